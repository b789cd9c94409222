// Connection, handshake and server-information commands with the Node.js driver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoServerError } from 'mongodb';
import { newClient, startServer } from './harness.mjs';

describe('connect and handshake', { timeout: 120000 }, () => {
   let server;
   let client;

   before(async () => {
      server = await startServer();
      client = newClient(server, { appName: 'ferret-node-connect' });
      await client.connect();
   });

   after(async () => {
      await client?.close();
      await server?.stop();
   });

   test('ping answers ok: 1', async () => {
      const r = await client.db('admin').command({ ping: 1 });
      assert.equal(r.ok, 1);
   });

   test('hello carries the fields drivers need', async () => {
      const r = await client.db('admin').command({ hello: 1 });
      assert.equal(r.ok, 1);
      assert.equal(r.isWritablePrimary, true);
      assert.equal(r.maxBsonObjectSize, 16 * 1024 * 1024);
      assert.equal(r.maxMessageSizeBytes, 48000000);
      assert.equal(r.maxWriteBatchSize, 100000);
      assert.ok(r.localTime instanceof Date, `localTime is a date: ${r.localTime}`);
      assert.ok(Math.abs(r.localTime.getTime() - Date.now()) < 60000, 'localTime is now');
      assert.equal(typeof r.minWireVersion, 'number');
      assert.equal(r.maxWireVersion, 25, 'the server claims MongoDB 8.0 (wire version 25)');
      assert.ok(r.minWireVersion <= r.maxWireVersion);
      assert.equal(typeof r.connectionId, 'number');
      assert.equal(r.setName, undefined, 'a standalone has no replica set name');
      assert.notEqual(r.msg, 'isdbgrid', 'not a mongos');
   });

   test('legacy isMaster answers ismaster: true', async () => {
      const r = await client.db('admin').command({ isMaster: 1 });
      assert.equal(r.ok, 1);
      assert.equal(r.ismaster, true);
      assert.equal(r.maxWireVersion, 25);
   });

   test('buildInfo reports an 8.0 version', async () => {
      const r = await client.db('admin').command({ buildInfo: 1 });
      assert.equal(r.ok, 1);
      assert.match(r.version, /^8\.0\.\d+/);
      assert.ok(Array.isArray(r.versionArray));
      assert.deepEqual(r.versionArray.slice(0, 2), [8, 0]);
   });

   test('the driver sees a standalone server', async () => {
      const desc = client.topology?.description;
      assert.ok(desc, 'topology description available');
      const servers = [...desc.servers.values()];
      assert.equal(servers.length, 1);
      assert.equal(servers[0].type, 'Standalone');
      assert.equal(servers[0].maxWireVersion, 25);
   });

   test('several clients connect at once', async () => {
      const clients = Array.from({ length: 5 }, () => newClient(server));
      try {
         const rs = await Promise.all(clients.map(async (c) => {
            await c.connect();
            return c.db('admin').command({ ping: 1 });
         }));
         for (const r of rs) {
            assert.equal(r.ok, 1);
         }
      } finally {
         await Promise.all(clients.map((c) => c.close()));
      }
   });

   test('an unknown command fails with CommandNotFound (59)', async () => {
      await assert.rejects(client.db('admin').command({ noSuchCommandAtAll: 1 }), (e) => {
         assert.ok(e instanceof MongoServerError, `server error, got ${e}`);
         assert.equal(e.code, 59);
         assert.equal(e.codeName, 'CommandNotFound');
         return true;
      });
   });

   test('a wrong URI port fails server selection (negative control)', async () => {
      const bad = newClient({ uri: 'mongodb://127.0.0.1:1/' }, { serverSelectionTimeoutMS: 500 });
      await assert.rejects(bad.connect(), /ECONNREFUSED|Server selection timed out|connect/);
      await bad.close();
   });
});
