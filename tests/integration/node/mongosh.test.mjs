// mongosh, the MongoDB shell, against ferretd: connect, insert, find, update,
// delete, and check what it prints.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, uniqueDbName } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const MONGOSH = path.join(here, 'node_modules', '.bin', 'mongosh');

function mongosh(uri, script, { timeout = 90000 } = {}) {
   return new Promise((resolve) => {
      execFile(MONGOSH, [uri, '--quiet', '--norc', '--eval', script], {
         timeout,
         env: { ...process.env, MONGOSH_SKIP_NODE_VERSION_CHECK: '1', HOME: process.env.HOME || '/tmp' },
         maxBuffer: 16 << 20,
      }, (err, stdout, stderr) => {
         resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
      });
   });
}

describe('mongosh', { timeout: 300000 }, () => {
   let server;
   let dbName;

   before(async () => {
      assert.ok(fs.existsSync(MONGOSH), `mongosh installed (run install.sh): ${MONGOSH}`);
      server = await startServer();
      dbName = uniqueDbName('sh');
   });

   after(async () => {
      await server?.stop();
   });

   const uri = () => `mongodb://127.0.0.1:${server.port}/${dbName}?directConnection=true`;

   test('connects and runs a ping', async () => {
      const r = await mongosh(uri(), 'print(JSON.stringify(db.runCommand({ping: 1})))');
      assert.equal(r.code, 0, `mongosh failed: ${r.stderr}${r.stdout}`);
      assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()), { ok: 1 });
   });

   test('insert, find, update, delete from a script', async () => {
      const script = `
         const c = db.getCollection('people');
         const ins = c.insertMany([{_id: 1, name: 'ada', age: 36}, {_id: 2, name: 'alan', age: 41},
                                   {_id: 3, name: 'grace', age: 85}]);
         print('inserted=' + Object.keys(ins.insertedIds).length);
         const one = c.insertOne({_id: 4, name: 'edsger', age: 72});
         print('insertedId=' + one.insertedId);
         print('count=' + c.countDocuments({}));
         print('older=' + JSON.stringify(c.find({age: {$gt: 40}}, {_id: 0, name: 1}).sort({age: 1}).toArray()));
         const up = c.updateOne({name: 'ada'}, {$inc: {age: 1}, $set: {lang: 'analytical'}});
         print('matched=' + up.matchedCount + ' modified=' + up.modifiedCount);
         const ups = c.updateOne({_id: 5}, {$set: {name: 'barbara'}}, {upsert: true});
         // mongosh's UpdateResult calls the upserted _id insertedId.
         print('upserted=' + ups.upsertedCount + ' id=' + (ups.upsertedId ?? ups.insertedId));
         const ada = c.findOne({_id: 1});
         print('ada=' + JSON.stringify(ada));
         const del = c.deleteMany({age: {$gt: 70}});
         print('deleted=' + del.deletedCount);
         print('left=' + JSON.stringify(c.find({}, {_id: 1}).sort({_id: 1}).toArray().map(d => d._id)));
         print('dbs=' + db.adminCommand({listDatabases: 1}).databases.some(d => d.name === db.getName()));
         print('colls=' + JSON.stringify(db.getCollectionNames()));
      `;
      const r = await mongosh(uri(), script);
      assert.equal(r.code, 0, `mongosh failed (${r.code}): ${r.stderr}\n${r.stdout}`);
      const lines = r.stdout.trim().split('\n').map((l) => l.trim());
      const want = [
         'inserted=3',
         'insertedId=4',
         'count=4',
         'older=[{"name":"alan"},{"name":"edsger"},{"name":"grace"}]',
         'matched=1 modified=1',
         'upserted=1 id=5',
         'ada={"_id":1,"name":"ada","age":37,"lang":"analytical"}',
         'deleted=2',
         'left=[1,2,5]',
         'dbs=true',
         'colls=["people"]',
      ];
      assert.deepEqual(lines, want, `mongosh printed:\n${r.stdout}\n${r.stderr}`);
   });

   test('shell helpers: show dbs, show collections, drop', async () => {
      const r = await mongosh(uri(), `
         db.t1.insertOne({a: 1});
         db.t2.insertOne({b: 2});
         print(db.getCollectionNames().sort().join(','));
         print(db.t1.drop());
         print(db.getCollectionNames().sort().join(','));
      `);
      assert.equal(r.code, 0, `mongosh failed: ${r.stderr}\n${r.stdout}`);
      const lines = r.stdout.trim().split('\n').map((l) => l.trim());
      assert.equal(lines[0].split(',').filter((x) => x === 't1' || x === 't2').length, 2, lines[0]);
      assert.equal(lines[1], 'true');
      assert.ok(!lines[2].split(',').includes('t1'), `t1 dropped: ${lines[2]}`);
      assert.ok(lines[2].split(',').includes('t2'));
   });

   test('a server error reaches the shell with its code', async () => {
      const r = await mongosh(uri(), `
         db.dup.insertOne({_id: 1});
         try { db.dup.insertOne({_id: 1}); print('no error'); }
         catch (e) { print('code=' + e.code); }
      `);
      assert.equal(r.code, 0, `mongosh failed: ${r.stderr}\n${r.stdout}`);
      assert.equal(r.stdout.trim().split('\n').pop().trim(), 'code=11000');
   });

   // mongosh's driver monitors the server with streaming hello: a hello with
   // topologyVersion, maxAwaitTimeMS and the exhaustAllowed flag, which a
   // server must answer after up to maxAwaitTimeMS with moreToCome set (or,
   // if it cannot stream, never advertise topologyVersion). A server that
   // answers at once without moreToCome makes the driver clear its pool
   // ("Server ended moreToCome unexpectedly") and fail operations in flight.
   test('a session outliving the first monitoring round trip keeps working', async () => {
      const r = await mongosh(`${uri()}&serverSelectionTimeoutMS=10000`, `
         db.mon.insertOne({_id: 1});
         sleep(2500);
         db.mon.insertOne({_id: 2});
         sleep(2500);
         print('count=' + db.mon.countDocuments({}));
      `);
      assert.equal(r.code, 0, `mongosh failed: ${r.stderr}\n${r.stdout}`);
      assert.equal(r.stdout.trim().split('\n').pop().trim(), 'count=2');
   });

   test('a wrong port makes mongosh fail (negative control)', async () => {
      const r = await mongosh('mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=500', 'print(1)', { timeout: 60000 });
      assert.notEqual(r.code, 0);
   });
});
