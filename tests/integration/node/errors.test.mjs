// Server errors reach the driver with MongoDB's code and codeName.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoServerError } from 'mongodb';
import { newClient, startServer, uniqueDbName } from './harness.mjs';

describe('errors', { timeout: 300000 }, () => {
   let server;
   let client;
   let db;
   let n = 0;
   const fresh = () => db.collection(`e${++n}`);

   // Asserts promise rejects with a server error of the given code (and codeName).
   const rejectsWith = (promise, code, codeName, msg) => assert.rejects(promise, (e) => {
      assert.ok(e instanceof MongoServerError, `a server error, got ${e && e.name}: ${e && e.message}`);
      assert.equal(e.code, code, `code ${code} expected, got ${e.code} (${e.codeName}): ${e.message}`);
      if (codeName) {
         assert.equal(e.codeName ?? e.errorResponse?.codeName, codeName);
      }
      if (msg) {
         assert.match(e.message, msg);
      }
      return true;
   });

   before(async () => {
      server = await startServer();
      client = newClient(server);
      await client.connect();
      db = client.db(uniqueDbName('errors'));
   });

   after(async () => {
      await db?.dropDatabase().catch(() => {});
      await client?.close();
      await server?.stop();
   });

   test('duplicate _id: 11000', async () => {
      const c = fresh();
      await c.insertOne({ _id: 1 });
      await assert.rejects(c.insertOne({ _id: 1 }), (e) => {
         assert.equal(e.code, 11000);
         return true;
      });
      assert.equal(await c.countDocuments(), 1, 'the failed insert wrote nothing');
   });

   test('unknown update operator: 9 FailedToParse', async () => {
      const c = fresh();
      await c.insertOne({ _id: 1 });
      await rejectsWith(c.updateOne({ _id: 1 }, { $foo: { a: 1 } }), 9, 'FailedToParse');
   });

   test('$inc on a string: 14 TypeMismatch', async () => {
      const c = fresh();
      await c.insertOne({ _id: 1, s: 'text' });
      await rejectsWith(c.updateOne({ _id: 1 }, { $inc: { s: 1 } }), 14, 'TypeMismatch');
      assert.deepEqual(await c.findOne({ _id: 1 }), { _id: 1, s: 'text' }, 'document unchanged');
   });

   test('unknown query operator: 2 BadValue', async () => {
      const c = fresh();
      await c.insertOne({ _id: 1 });
      await rejectsWith(c.find({ a: { $foo: 1 } }).toArray(), 2, 'BadValue', /\$foo/);
   });

   test('changing _id: 66 ImmutableField', async () => {
      const c = fresh();
      await c.insertOne({ _id: 1 });
      await rejectsWith(c.updateOne({ _id: 1 }, { $set: { _id: 2 } }), 66, 'ImmutableField');
   });

   test('conflicting update paths: 40 ConflictingUpdateOperators', async () => {
      const c = fresh();
      await c.insertOne({ _id: 1, a: 1 });
      await rejectsWith(c.updateOne({ _id: 1 }, { $set: { a: 2 }, $inc: { a: 1 } }), 40,
         'ConflictingUpdateOperators');
   });

   test('creating an existing collection: 48 NamespaceExists', async () => {
      const c = fresh();
      await db.command({ create: c.collectionName });
      await rejectsWith(db.command({ create: c.collectionName }), 48, 'NamespaceExists');
   });

   test('renaming onto an existing collection: 48 NamespaceExists', async () => {
      const a = fresh();
      const b = fresh();
      await a.insertOne({ _id: 1 });
      await b.insertOne({ _id: 2 });
      await rejectsWith(client.db('admin').command({
         renameCollection: `${db.databaseName}.${a.collectionName}`,
         to: `${db.databaseName}.${b.collectionName}`,
      }), 48, 'NamespaceExists');
   });

   test('an invalid collection name: 73 InvalidNamespace', async () => {
      await rejectsWith(db.command({ insert: 'bad$name', documents: [{ _id: 1 }] }), 73, 'InvalidNamespace');
   });

   test('an array _id: 53 InvalidIdField', async () => {
      const c = fresh();
      await assert.rejects(c.insertOne({ _id: [1, 2] }), (e) => {
         assert.equal(e.code, 53, `InvalidIdField, got ${e.code}: ${e.message}`);
         return true;
      });
      assert.equal(await c.countDocuments(), 0);
   });

   test('an unknown aggregation stage: 40324', async () => {
      const c = fresh();
      await c.insertOne({ _id: 1 });
      await rejectsWith(c.aggregate([{ $nope: {} }]).toArray(), 40324, null, /\$nope/);
   });

   test('an unknown command: 59 CommandNotFound', async () => {
      await rejectsWith(db.command({ frobnicate: 1 }), 59, 'CommandNotFound');
   });

   test('after errors the connection still works', async () => {
      const c = fresh();
      await assert.rejects(c.find({ a: { $foo: 1 } }).toArray());
      await c.insertOne({ _id: 'ok' });
      assert.deepEqual(await c.findOne({}), { _id: 'ok' });
   });
});
