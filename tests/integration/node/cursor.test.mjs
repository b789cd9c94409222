// Cursors over more documents than one batch: getMore, batchSize, limit,
// close (killCursors), sorted and filtered iteration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newClient, startServer, uniqueDbName } from './harness.mjs';

const N = 1500;

describe('cursors', { timeout: 300000 }, () => {
   let server;
   let client;
   let coll;
   const started = [];

   before(async () => {
      server = await startServer();
      client = newClient(server, { monitorCommands: true });
      client.on('commandStarted', (e) => started.push(e));
      await client.connect();
      coll = client.db(uniqueDbName('cursor')).collection('many');
      await coll.insertMany(Array.from({ length: N }, (_, i) => ({ _id: i, r: (i * 7919) % N, pad: 'p'.repeat(50) })));
   });

   after(async () => {
      await coll?.db.dropDatabase().catch(() => {});
      await client?.close();
      await server?.stop();
   });

   const commands = (fn) => {
      const from = started.length;
      return fn().then((v) => [v, started.slice(from).map((e) => e.commandName)]);
   };

   test(`find iterates all ${N} documents with batchSize 100 through getMore`, async () => {
      const [docs, cmds] = await commands(() => coll.find({}, { batchSize: 100 }).toArray());
      assert.equal(docs.length, N);
      const seen = new Set(docs.map((d) => d._id));
      assert.equal(seen.size, N, 'no document twice');
      assert.equal(cmds.filter((c) => c === 'find').length, 1);
      const gm = cmds.filter((c) => c === 'getMore').length;
      assert.ok(gm >= 14 && gm <= 15, `14 or 15 getMores, got ${gm}`);
   });

   test('the default first batch is 101 documents and the cursor id is non-zero', async () => {
      const r = await coll.db.command({ find: coll.collectionName, filter: {} });
      assert.equal(r.cursor.firstBatch.length, 101);
      assert.notEqual(Number(r.cursor.id), 0);
      assert.equal(r.cursor.ns, `${coll.dbName}.${coll.collectionName}`);
      const more = await coll.db.command({ getMore: r.cursor.id, collection: coll.collectionName, batchSize: 10000 });
      assert.equal(more.cursor.nextBatch.length, N - 101);
      assert.equal(Number(more.cursor.id), 0, 'exhausted cursor reports id 0');
   });

   test('sorted iteration across batches keeps the order', async () => {
      const docs = await coll.find({ r: { $lt: 1000 } }, { batchSize: 77 }).sort({ r: -1 }).toArray();
      assert.equal(docs.length, 1000);
      for (let i = 1; i < docs.length; i++) {
         assert.ok(docs[i - 1].r > docs[i].r, `descending at ${i}`);
      }
   });

   test('limit with a small batchSize returns exactly limit documents', async () => {
      const docs = await coll.find({}, { batchSize: 50 }).sort({ _id: 1 }).limit(333).toArray();
      assert.equal(docs.length, 333);
      assert.equal(docs[332]._id, 332);
   });

   test('closing a cursor early sends killCursors and the cursor is gone', async () => {
      const cursor = coll.find({}, { batchSize: 10 });
      const first = await cursor.next();
      assert.ok(first);
      const id = cursor.id;
      assert.ok(id && Number(id) !== 0, 'server kept a cursor open');
      const [, cmds] = await commands(() => cursor.close());
      assert.deepEqual(cmds, ['killCursors']);
      await assert.rejects(
         coll.db.command({ getMore: id, collection: coll.collectionName }),
         (e) => {
            assert.equal(e.code, 43, `CursorNotFound, got ${e.code} ${e.message}`);
            return true;
         });
   });

   test('async iteration with for await', async () => {
      let count = 0;
      let sum = 0;
      for await (const d of coll.find({ _id: { $lt: 500 } }, { batchSize: 64, projection: { _id: 1 } })) {
         count++;
         sum += d._id;
      }
      assert.equal(count, 500);
      assert.equal(sum, (499 * 500) / 2);
   });

   test('aggregate cursors page through getMore too', async () => {
      const [docs, cmds] = await commands(() => coll.aggregate([{ $match: { _id: { $gte: 100 } } }, { $project: { r: 1 } }],
         { batchSize: 200 }).toArray());
      assert.equal(docs.length, N - 100);
      assert.ok(cmds.includes('getMore'), `getMore used: ${cmds}`);
   });

   test('two cursors interleave independently', async () => {
      const a = coll.find({}, { batchSize: 5 }).sort({ _id: 1 });
      const b = coll.find({}, { batchSize: 5 }).sort({ _id: -1 });
      for (let i = 0; i < 20; i++) {
         assert.equal((await a.next())._id, i);
         assert.equal((await b.next())._id, N - 1 - i);
      }
      await a.close();
      await b.close();
   });
});
