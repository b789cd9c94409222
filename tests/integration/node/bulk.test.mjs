// insertMany and bulkWrite, ordered and unordered, with duplicate keys: the
// MongoBulkWriteError must say what was written and which operation failed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoBulkWriteError } from 'mongodb';
import { newClient, startServer, uniqueDbName } from './harness.mjs';

describe('bulk writes', { timeout: 300000 }, () => {
   let server;
   let client;
   let db;
   let n = 0;
   const fresh = () => db.collection(`b${++n}`);
   const ids = async (c) => (await c.find({}, { sort: { _id: 1 }, projection: { _id: 1 } }).toArray())
      .map((d) => d._id);

   before(async () => {
      server = await startServer();
      client = newClient(server);
      await client.connect();
      db = client.db(uniqueDbName('bulk'));
   });

   after(async () => {
      await db?.dropDatabase().catch(() => {});
      await client?.close();
      await server?.stop();
   });

   test('insertMany inserts every document and returns their ids', async () => {
      const c = fresh();
      const docs = Array.from({ length: 500 }, (_, i) => ({ _id: i, v: `v${i}` }));
      const r = await c.insertMany(docs);
      assert.equal(r.insertedCount, 500);
      assert.equal(r.insertedIds[0], 0);
      assert.equal(r.insertedIds[499], 499);
      assert.equal(await c.countDocuments(), 500);
   });

   test('ordered insertMany stops at the first duplicate key', async () => {
      const c = fresh();
      await c.insertOne({ _id: 100 });
      const err = await c.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 1 }, { _id: 3 }, { _id: 100 }])
         .then(() => null, (e) => e);
      assert.ok(err instanceof MongoBulkWriteError, `MongoBulkWriteError, got ${err}`);
      assert.equal(err.code, 11000);
      assert.equal(err.insertedCount, 2);
      assert.equal(err.result.insertedCount, 2);
      assert.equal(err.writeErrors.length, 1);
      assert.equal(err.writeErrors[0].index, 2);
      assert.equal(err.writeErrors[0].code, 11000);
      assert.match(err.writeErrors[0].errmsg, /duplicate key/i);
      assert.deepEqual(await ids(c), [1, 2, 100]);
   });

   test('unordered insertMany goes on past duplicates and reports each one', async () => {
      const c = fresh();
      await c.insertOne({ _id: 100 });
      const err = await c.insertMany([{ _id: 1 }, { _id: 100 }, { _id: 2 }, { _id: 1 }, { _id: 3 }],
         { ordered: false }).then(() => null, (e) => e);
      assert.ok(err instanceof MongoBulkWriteError, `MongoBulkWriteError, got ${err}`);
      assert.equal(err.code, 11000);
      assert.equal(err.insertedCount, 3);
      const idx = err.writeErrors.map((w) => w.index).sort();
      assert.deepEqual(idx, [1, 3]);
      for (const w of err.writeErrors) {
         assert.equal(w.code, 11000);
      }
      assert.deepEqual(await ids(c), [1, 2, 3, 100]);
   });

   test('a duplicate key error names the key (keyPattern / keyValue or message)', async () => {
      const c = fresh();
      await c.insertOne({ _id: 'k' });
      const err = await c.insertOne({ _id: 'k' }).then(() => null, (e) => e);
      assert.ok(err, 'the second insert fails');
      assert.equal(err.code, 11000);
      assert.match(err.message, /duplicate key/i);
      assert.match(err.message, /k/);
   });

   test('bulkWrite mixes inserts, updates, replaces and deletes', async () => {
      const c = fresh();
      await c.insertMany([{ _id: 1, x: 1 }, { _id: 2, x: 2 }, { _id: 3, x: 3 }]);
      const r = await c.bulkWrite([
         { insertOne: { document: { _id: 4, x: 4 } } },
         { updateOne: { filter: { _id: 1 }, update: { $set: { x: 10 } } } },
         { updateMany: { filter: { x: { $gte: 3, $lt: 10 } }, update: { $inc: { x: 100 } } } },
         { replaceOne: { filter: { _id: 2 }, replacement: { y: 2 } } },
         { updateOne: { filter: { _id: 5 }, update: { $set: { x: 5 } }, upsert: true } },
         { deleteOne: { filter: { _id: 3 } } },
         { deleteMany: { filter: { x: { $gt: 1000 } } } },
      ]);
      assert.equal(r.insertedCount, 1);
      assert.equal(r.matchedCount, 4);
      assert.equal(r.modifiedCount, 4);
      assert.equal(r.upsertedCount, 1);
      assert.equal(r.upsertedIds[4], 5);
      assert.equal(r.deletedCount, 1);
      assert.deepEqual(await c.find().sort({ _id: 1 }).toArray(), [
         { _id: 1, x: 10 },
         { _id: 2, y: 2 },
         { _id: 4, x: 104 },
         { _id: 5, x: 5 },
      ]);
   });

   test('ordered bulkWrite with a duplicate reports the partial result', async () => {
      const c = fresh();
      const err = await c.bulkWrite([
         { insertOne: { document: { _id: 1 } } },
         { updateOne: { filter: { _id: 1 }, update: { $set: { a: 1 } } } },
         { insertOne: { document: { _id: 1 } } },
         { deleteOne: { filter: { _id: 1 } } },
      ]).then(() => null, (e) => e);
      assert.ok(err instanceof MongoBulkWriteError, `MongoBulkWriteError, got ${err}`);
      assert.equal(err.writeErrors.length, 1);
      assert.equal(err.writeErrors[0].index, 2);
      assert.equal(err.result.insertedCount, 1);
      assert.equal(err.result.matchedCount, 1);
      assert.equal(err.result.deletedCount, 0);
      assert.deepEqual(await c.find().toArray(), [{ _id: 1, a: 1 }]);
   });

   test('unordered bulkWrite runs everything that can run', async () => {
      const c = fresh();
      const err = await c.bulkWrite([
         { insertOne: { document: { _id: 1 } } },
         { insertOne: { document: { _id: 1 } } },
         { insertOne: { document: { _id: 2 } } },
         { updateOne: { filter: { _id: 2 }, update: { $set: { a: 2 } } } },
      ], { ordered: false }).then(() => null, (e) => e);
      assert.ok(err instanceof MongoBulkWriteError, `MongoBulkWriteError, got ${err}`);
      assert.deepEqual(err.writeErrors.map((w) => w.index), [1]);
      assert.equal(err.result.insertedCount, 2);
      assert.equal(err.result.modifiedCount, 1);
      assert.deepEqual(await c.find().sort({ _id: 1 }).toArray(), [{ _id: 1 }, { _id: 2, a: 2 }]);
   });

   test('a large insertMany is split into several batches and all of it lands', async () => {
      const c = fresh();
      const big = 'x'.repeat(4000);
      // ~20 MB, more than one 16 MB message: the driver splits it.
      const docs = Array.from({ length: 5000 }, (_, i) => ({ _id: i, big }));
      const r = await c.insertMany(docs);
      assert.equal(r.insertedCount, 5000);
      assert.equal(await c.countDocuments(), 5000);
   });
});
