// Everyday CRUD with the Node.js driver: inserts, finds, updates, upserts,
// deletes, findOneAnd*, counts, distinct, aggregate, listings and drops.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import { newClient, startServer, uniqueDbName } from './harness.mjs';

describe('CRUD', { timeout: 300000 }, () => {
   let server;
   let client;
   let db;
   let n = 0;
   // Every test works on a collection of its own.
   const fresh = () => db.collection(`c${++n}`);

   before(async () => {
      server = await startServer();
      client = newClient(server);
      await client.connect();
      db = client.db(uniqueDbName('crud'));
   });

   after(async () => {
      await db?.dropDatabase().catch(() => {});
      await client?.close();
      await server?.stop();
   });

   test('insertOne assigns an ObjectId _id and findOne reads it back', async () => {
      const c = fresh();
      const r = await c.insertOne({ name: 'ada', langs: ['c', 'js'], nested: { a: 1 } });
      assert.equal(r.acknowledged, true);
      assert.ok(r.insertedId instanceof ObjectId);
      const d = await c.findOne({ _id: r.insertedId });
      assert.deepEqual(d, { _id: r.insertedId, name: 'ada', langs: ['c', 'js'], nested: { a: 1 } });
      assert.equal(await c.findOne({ name: 'nobody' }), null);
   });

   test('find with filter, sort, projection, skip and limit', async () => {
      const c = fresh();
      await c.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i, v: i % 5, s: `s${i}` })));
      const docs = await c.find({ v: { $gte: 3 } }, { sort: { _id: -1 }, projection: { s: 0 } }).toArray();
      assert.deepEqual(docs.map((d) => d._id), [19, 18, 14, 13, 9, 8, 4, 3]);
      assert.deepEqual(docs[0], { _id: 19, v: 4 });
      const page = await c.find({}).sort({ v: 1, _id: 1 }).skip(3).limit(4).project({ _id: 1 }).toArray();
      assert.deepEqual(page, [{ _id: 15 }, { _id: 1 }, { _id: 6 }, { _id: 11 }]);
      const incl = await c.find({ _id: 7 }, { projection: { s: 1, _id: 0 } }).toArray();
      assert.deepEqual(incl, [{ s: 's7' }]);
      const ors = await c.find({ $or: [{ _id: 1 }, { s: 's2' }] }).sort({ _id: 1 }).toArray();
      assert.deepEqual(ors.map((d) => d._id), [1, 2]);
      const ins = await c.countDocuments({ _id: { $in: [1, 2, 99] } });
      assert.equal(ins, 2);
   });

   test('queries match inside arrays and nested documents', async () => {
      const c = fresh();
      await c.insertMany([
         { _id: 1, tags: ['a', 'b'], o: { x: 1 } },
         { _id: 2, tags: ['b', 'c'], o: { x: 2 } },
         { _id: 3, tags: [], o: { y: 1 } },
      ]);
      assert.deepEqual((await c.find({ tags: 'b' }).sort({ _id: 1 }).toArray()).map((d) => d._id), [1, 2]);
      assert.deepEqual((await c.find({ 'o.x': 2 }).toArray()).map((d) => d._id), [2]);
      assert.deepEqual((await c.find({ 'o.x': { $exists: false } }).toArray()).map((d) => d._id), [3]);
      assert.deepEqual((await c.find({ tags: { $size: 0 } }).toArray()).map((d) => d._id), [3]);
      assert.deepEqual((await c.find({ tags: { $all: ['a', 'b'] } }).toArray()).map((d) => d._id), [1]);
   });

   test('updateOne and updateMany with operators report matched and modified counts', async () => {
      const c = fresh();
      await c.insertMany([{ _id: 1, n: 1 }, { _id: 2, n: 2 }, { _id: 3, n: 3 }]);
      let r = await c.updateOne({ _id: 1 }, { $set: { s: 'x' }, $inc: { n: 10 } });
      assert.equal(r.matchedCount, 1);
      assert.equal(r.modifiedCount, 1);
      assert.equal(r.upsertedCount, 0);
      assert.equal(r.upsertedId, null);
      assert.deepEqual(await c.findOne({ _id: 1 }), { _id: 1, n: 11, s: 'x' });

      r = await c.updateMany({ n: { $lte: 3 } }, { $mul: { n: 2 }, $push: { h: 'm' } });
      assert.equal(r.matchedCount, 2);
      assert.equal(r.modifiedCount, 2);
      assert.deepEqual(await c.find({}).sort({ _id: 1 }).toArray(), [
         { _id: 1, n: 11, s: 'x' },
         { _id: 2, n: 4, h: ['m'] },
         { _id: 3, n: 6, h: ['m'] },
      ]);

      // A no-op update matches but modifies nothing.
      r = await c.updateOne({ _id: 1 }, { $set: { s: 'x' } });
      assert.equal(r.matchedCount, 1);
      assert.equal(r.modifiedCount, 0);

      r = await c.updateMany({ _id: 99 }, { $set: { s: 'y' } });
      assert.equal(r.matchedCount, 0);
      assert.equal(r.modifiedCount, 0);

      r = await c.updateOne({ _id: 2 }, { $unset: { h: '' }, $rename: { n: 'm' } });
      assert.equal(r.modifiedCount, 1);
      assert.deepEqual(await c.findOne({ _id: 2 }), { _id: 2, m: 4 });
   });

   test('upserts insert a document built from the filter and the update', async () => {
      const c = fresh();
      let r = await c.updateOne({ _id: 'u1', k: 1 }, { $set: { v: 'a' }, $setOnInsert: { created: true } },
         { upsert: true });
      assert.equal(r.matchedCount, 0);
      assert.equal(r.modifiedCount, 0);
      assert.equal(r.upsertedCount, 1);
      assert.equal(r.upsertedId, 'u1');
      assert.deepEqual(await c.findOne({ _id: 'u1' }), { _id: 'u1', k: 1, v: 'a', created: true });

      // The second time it matches and $setOnInsert does nothing.
      r = await c.updateOne({ _id: 'u1', k: 1 }, { $set: { v: 'b' }, $setOnInsert: { created: false } },
         { upsert: true });
      assert.equal(r.matchedCount, 1);
      assert.equal(r.upsertedCount, 0);
      assert.deepEqual(await c.findOne({ _id: 'u1' }), { _id: 'u1', k: 1, v: 'b', created: true });

      // Without an _id in the filter the server generates an ObjectId.
      r = await c.updateMany({ k: 2 }, { $inc: { n: 1 } }, { upsert: true });
      assert.equal(r.upsertedCount, 1);
      assert.ok(r.upsertedId instanceof ObjectId, `generated id: ${r.upsertedId}`);
      assert.deepEqual(await c.findOne({ k: 2 }), { _id: r.upsertedId, k: 2, n: 1 });

      r = await c.replaceOne({ _id: 'u2' }, { x: 1 }, { upsert: true });
      assert.equal(r.upsertedCount, 1);
      assert.equal(r.upsertedId, 'u2');
      assert.deepEqual(await c.findOne({ _id: 'u2' }), { _id: 'u2', x: 1 });
      assert.equal(await c.countDocuments(), 3);
   });

   test('replaceOne replaces the whole document and keeps _id', async () => {
      const c = fresh();
      await c.insertMany([{ _id: 1, a: 1, b: 2 }, { _id: 2, a: 1 }]);
      const r = await c.replaceOne({ _id: 1 }, { c: 3 });
      assert.equal(r.matchedCount, 1);
      assert.equal(r.modifiedCount, 1);
      assert.deepEqual(await c.findOne({ _id: 1 }), { _id: 1, c: 3 });
      const none = await c.replaceOne({ _id: 3 }, { c: 4 });
      assert.equal(none.matchedCount, 0);
      assert.equal(await c.countDocuments(), 2);
   });

   test('deleteOne and deleteMany report deleted counts', async () => {
      const c = fresh();
      await c.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, even: i % 2 === 0 })));
      let r = await c.deleteOne({ even: true });
      assert.equal(r.deletedCount, 1);
      assert.equal(await c.countDocuments({ even: true }), 4);
      r = await c.deleteMany({ even: false });
      assert.equal(r.deletedCount, 5);
      r = await c.deleteMany({ _id: { $gt: 100 } });
      assert.equal(r.deletedCount, 0);
      r = await c.deleteMany({});
      assert.equal(r.deletedCount, 4);
      assert.equal(await c.countDocuments(), 0);
   });

   test('findOneAndUpdate returns the document before or after, with sort and projection', async () => {
      const c = fresh();
      await c.insertMany([{ _id: 1, q: 5, n: 0 }, { _id: 2, q: 5, n: 0 }, { _id: 3, q: 7, n: 0 }]);
      let d = await c.findOneAndUpdate({ q: 5 }, { $inc: { n: 1 } }, { sort: { _id: -1 } });
      assert.deepEqual(d, { _id: 2, q: 5, n: 0 }, 'the document before, by default');
      d = await c.findOneAndUpdate({ q: 5 }, { $inc: { n: 1 } },
         { sort: { _id: -1 }, returnDocument: 'after', projection: { q: 0 } });
      assert.deepEqual(d, { _id: 2, n: 2 });
      d = await c.findOneAndUpdate({ q: 99 }, { $set: { n: 1 } });
      assert.equal(d, null);
      d = await c.findOneAndUpdate({ _id: 9 }, { $set: { n: 9 } }, { upsert: true, returnDocument: 'after' });
      assert.deepEqual(d, { _id: 9, n: 9 });
      const meta = await c.findOneAndUpdate({ _id: 1 }, { $set: { n: 5 } }, { includeResultMetadata: true });
      assert.equal(meta.ok, 1);
      assert.deepEqual(meta.value, { _id: 1, q: 5, n: 0 });
      assert.equal(meta.lastErrorObject.n, 1);
      assert.equal(meta.lastErrorObject.updatedExisting, true);
   });

   test('findOneAndReplace and findOneAndDelete', async () => {
      const c = fresh();
      await c.insertMany([{ _id: 1, x: 1 }, { _id: 2, x: 2 }, { _id: 3, x: 3 }]);
      let d = await c.findOneAndReplace({ x: { $gt: 1 } }, { y: 'r' }, { sort: { x: 1 }, returnDocument: 'after' });
      assert.deepEqual(d, { _id: 2, y: 'r' });
      d = await c.findOneAndReplace({ _id: 4 }, { y: 'new' }, { upsert: true, returnDocument: 'before' });
      assert.equal(d, null);
      assert.deepEqual(await c.findOne({ _id: 4 }), { _id: 4, y: 'new' });
      d = await c.findOneAndDelete({ x: { $exists: true } }, { sort: { x: -1 } });
      assert.deepEqual(d, { _id: 3, x: 3 });
      d = await c.findOneAndDelete({ _id: 42 });
      assert.equal(d, null);
      assert.deepEqual((await c.find().sort({ _id: 1 }).toArray()).map((x) => x._id), [1, 2, 4]);
   });

   test('countDocuments and estimatedDocumentCount', async () => {
      const c = fresh();
      assert.equal(await c.estimatedDocumentCount(), 0, 'a missing collection counts 0');
      assert.equal(await c.countDocuments(), 0);
      await c.insertMany(Array.from({ length: 25 }, (_, i) => ({ _id: i, g: i % 3 })));
      assert.equal(await c.countDocuments(), 25);
      assert.equal(await c.countDocuments({ g: 0 }), 9);
      assert.equal(await c.countDocuments({ g: 0 }, { skip: 2, limit: 5 }), 5);
      assert.equal(await c.countDocuments({ g: 0 }, { skip: 7 }), 2);
      assert.equal(await c.estimatedDocumentCount(), 25);
   });

   test('distinct flattens arrays and honours the filter', async () => {
      const c = fresh();
      await c.insertMany([
         { _id: 1, t: 'a', arr: [1, 2] },
         { _id: 2, t: 'b', arr: [2, 3] },
         { _id: 3, t: 'a', arr: 4 },
         { _id: 4, o: { t: 'z' } },
      ]);
      const ts = await c.distinct('t');
      assert.deepEqual([...ts].sort(), ['a', 'b']);
      const arr = await c.distinct('arr');
      assert.deepEqual([...arr].sort(), [1, 2, 3, 4]);
      assert.deepEqual(await c.distinct('t', { _id: { $gte: 2 } }).then((x) => [...x].sort()), ['a', 'b']);
      assert.deepEqual(await c.distinct('o.t'), ['z']);
      assert.deepEqual(await c.distinct('missing'), []);
   });

   test('aggregate: $match, $group, $sort, $project, $limit, $count', async () => {
      const c = fresh();
      await c.insertMany([
         { _id: 1, cat: 'a', qty: 5 },
         { _id: 2, cat: 'b', qty: 1 },
         { _id: 3, cat: 'a', qty: 10 },
         { _id: 4, cat: 'c', qty: 7 },
      ]);
      const g = await c.aggregate([
         { $match: { qty: { $gt: 1 } } },
         { $group: { _id: '$cat', total: { $sum: '$qty' }, n: { $sum: 1 } } },
         { $sort: { total: -1 } },
      ]).toArray();
      assert.deepEqual(g, [{ _id: 'a', total: 15, n: 2 }, { _id: 'c', total: 7, n: 1 }]);
      const p = await c.aggregate([{ $sort: { _id: 1 } }, { $project: { _id: 0, cat: 1 } }, { $limit: 2 }]).toArray();
      assert.deepEqual(p, [{ cat: 'a' }, { cat: 'b' }]);
      const cnt = await c.aggregate([{ $match: { cat: 'a' } }, { $count: 'n' }]).toArray();
      assert.deepEqual(cnt, [{ n: 2 }]);
   });

   test('listCollections, listDatabases and drop', async () => {
      const c1 = fresh();
      const c2 = fresh();
      await c1.insertOne({ _id: 1 });
      await db.createCollection(c2.collectionName);
      const names = (await db.listCollections().toArray()).map((x) => x.name);
      assert.ok(names.includes(c1.collectionName), `${c1.collectionName} in ${names}`);
      assert.ok(names.includes(c2.collectionName));
      const info = await db.listCollections({ name: c1.collectionName }).toArray();
      assert.equal(info.length, 1);
      assert.equal(info[0].type, 'collection');
      const onlyNames = await db.listCollections({}, { nameOnly: true }).toArray();
      assert.ok(onlyNames.some((x) => x.name === c2.collectionName));

      const dbs = await client.db('admin').admin().listDatabases();
      assert.ok(dbs.databases.some((d) => d.name === db.databaseName), 'our database is listed');
      for (const d of dbs.databases) {
         assert.equal(typeof d.name, 'string');
      }

      assert.equal(await c1.drop(), true);
      const after = (await db.listCollections().toArray()).map((x) => x.name);
      assert.ok(!after.includes(c1.collectionName), 'dropped collection is gone');
      assert.ok(after.includes(c2.collectionName), 'the other one stays');
      assert.equal(await c1.countDocuments(), 0);

      const other = client.db(uniqueDbName('dropme'));
      await other.collection('x').insertOne({ a: 1 });
      assert.equal(await other.dropDatabase(), true);
      const dbs2 = await client.db('admin').admin().listDatabases();
      assert.ok(!dbs2.databases.some((d) => d.name === other.databaseName), 'dropped database is gone');
   });

   test('values keep their BSON types through a round trip', async () => {
      const c = fresh();
      const { Long, Decimal128, Binary, Timestamp, Int32, Double } = await import('mongodb');
      const doc = {
         _id: 1,
         i: new Int32(7),
         l: Long.fromString('9007199254740993'),
         d: new Double(2.5),
         dec: Decimal128.fromString('1.10'),
         b: new Binary(Buffer.from([1, 2, 3]), 0),
         t: new Timestamp({ t: 5, i: 6 }),
         date: new Date('2020-01-02T03:04:05.678Z'),
         re: /ab+c/i,
         nul: null,
         bool: false,
         s: 'ünïcødé',
         arr: [1, 'two', { three: 3 }],
      };
      await c.insertOne(doc);
      const got = await c.findOne({ _id: 1 }, { promoteValues: false, promoteLongs: false });
      assert.equal(got.i._bsontype, 'Int32');
      assert.equal(got.l._bsontype, 'Long');
      assert.equal(got.l.toString(), '9007199254740993');
      assert.equal(got.d._bsontype, 'Double');
      assert.equal(got.dec.toString(), '1.10');
      assert.deepEqual([...got.b.buffer], [1, 2, 3]);
      assert.equal(got.t.toString(), new Timestamp({ t: 5, i: 6 }).toString());
      assert.equal(got.date.toISOString(), '2020-01-02T03:04:05.678Z');
      assert.equal(got.re.pattern ?? got.re.source, 'ab+c');
      assert.equal(got.nul, null);
      assert.equal(got.bool, false);
      assert.equal(got.s, 'ünïcødé');
      assert.equal(got.arr.length, 3);
   });
});
