// Mongoose, the Node.js ODM, against ferretd: schemas with unique and compound
// indexes (autoIndex, syncIndexes), documents through the model API, timestamps,
// validation and duplicate-key errors, populate, lean queries, unordered
// insertMany, collection-level bulkWrite and an aggregation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startServer, uniqueDbName } from './harness.mjs';

const require = createRequire(import.meta.url);
const mongoose = require('mongoose');

describe('mongoose', { timeout: 300000 }, () => {
   let server;
   let conn;
   let Author;
   let Book;

   before(async () => {
      server = await startServer();
      conn = await mongoose
         .createConnection(`${server.uri}?directConnection=true`, {
            dbName: uniqueDbName('mongoose'),
            serverSelectionTimeoutMS: 10000,
            autoIndex: true,
         })
         .asPromise();
      const authorSchema = new mongoose.Schema(
         {
            name: { type: String, required: true },
            email: { type: String, required: true, unique: true },
            born: Number,
         },
         { timestamps: true },
      );
      const bookSchema = new mongoose.Schema(
         {
            title: { type: String, required: true, minlength: 2 },
            year: { type: Number, min: 1400 },
            author: { type: mongoose.Schema.Types.ObjectId, ref: 'Author' },
            tags: [String],
            price: Number,
         },
         { timestamps: true },
      );
      bookSchema.index({ author: 1, year: -1 });
      bookSchema.index({ title: 1 }, { unique: true });
      Author = conn.model('Author', authorSchema);
      Book = conn.model('Book', bookSchema);
      await Promise.all([Author.init(), Book.init()]);
   });

   after(async () => {
      await conn?.close();
      await server?.stop();
   });

   test('autoIndex builds the unique and compound indexes; syncIndexes keeps them', async () => {
      const names = (await Book.listIndexes()).map((ix) => ix.name).sort();
      assert.deepEqual(names, ['_id_', 'author_1_year_-1', 'title_1']);
      const title = (await Book.listIndexes()).find((ix) => ix.name === 'title_1');
      assert.equal(title.unique, true);
      const emailIndex = (await Author.listIndexes()).find((ix) => ix.name === 'email_1');
      assert.equal(emailIndex?.unique, true);
      // Nothing to change: no index dropped, the schema and the server agree.
      assert.deepEqual(await Book.syncIndexes(), []);
      assert.deepEqual(await Book.diffIndexes(), { toDrop: [], toCreate: [] });
      // An index the schema does not know is dropped by syncIndexes.
      await Book.collection.createIndex({ price: 1 }, { name: 'price_1' });
      assert.deepEqual(await Book.syncIndexes(), ['price_1']);
      assert.ok(!(await Book.listIndexes()).some((ix) => ix.name === 'price_1'));
   });

   test('create, save, find, findOne, findById, populate, lean, select, sort, skip, limit', async () => {
      const ada = await Author.create({ name: 'Ada', email: 'ada@example.org', born: 1815 });
      assert.ok(ada.createdAt instanceof Date && ada.updatedAt instanceof Date);
      const notes = new Book({ title: 'Notes', year: 1843, author: ada._id, tags: ['math'], price: 10 });
      await notes.save();
      await Book.create([
         { title: 'Sketch', year: 1842, author: ada._id, price: 5 },
         { title: 'Letters', year: 1850, author: ada._id, price: 7 },
         { title: 'Engine', year: 1900, price: 20 },
      ]);
      const page = await Book.find({ year: { $gt: 1800 } })
         .sort({ year: -1 })
         .skip(1)
         .limit(2)
         .select('title year -_id')
         .lean();
      assert.deepEqual(page, [
         { title: 'Letters', year: 1850 },
         { title: 'Notes', year: 1843 },
      ]);
      assert.equal((await Book.findOne({ title: 'Sketch' })).price, 5);
      assert.equal((await Author.findById(ada._id)).email, 'ada@example.org');
      const populated = await Book.findOne({ title: 'Notes' }).populate('author');
      assert.equal(populated.author.name, 'Ada');
      const lean = await Book.findOne({ title: 'Notes' }).lean();
      assert.ok(!(lean instanceof mongoose.Document));
      assert.deepEqual(lean.tags, ['math']);
      const fetched = await Book.findById(notes._id);
      assert.equal(fetched.createdAt.getTime(), notes.createdAt.getTime());
   });

   test('updateOne, findOneAndUpdate with new and upsert, timestamps move', async () => {
      const before = await Book.findOne({ title: 'Sketch' }).lean();
      await new Promise((r) => setTimeout(r, 5));
      const r = await Book.updateOne({ title: 'Sketch' }, { $inc: { price: 1 } });
      assert.equal(r.matchedCount, 1);
      assert.equal(r.modifiedCount, 1);
      const after = await Book.findOne({ title: 'Sketch' }).lean();
      assert.equal(after.price, 6);
      assert.ok(after.updatedAt > before.updatedAt, 'updatedAt moves on update');
      const updated = await Book.findOneAndUpdate({ title: 'Letters' }, { $set: { price: 9 } }, { new: true });
      assert.equal(updated.price, 9);
      const old = await Book.findOneAndUpdate({ title: 'Letters' }, { $set: { price: 8 } });
      assert.equal(old.price, 9, 'without new, the document before the update');
      const upserted = await Book.findOneAndUpdate(
         { title: 'Treatise' },
         { $set: { year: 1860 } },
         { new: true, upsert: true },
      );
      assert.equal(upserted.title, 'Treatise');
      assert.equal(upserted.year, 1860);
      assert.ok(upserted.createdAt instanceof Date, 'timestamps set on upsert');
   });

   test('countDocuments, estimatedDocumentCount, distinct', async () => {
      assert.equal(await Book.countDocuments({ year: { $gte: 1850 } }), 3);
      assert.equal(await Book.estimatedDocumentCount(), 5);
      assert.deepEqual((await Book.distinct('year')).sort(), [1842, 1843, 1850, 1860, 1900]);
      assert.deepEqual(await Book.distinct('tags'), ['math']);
   });

   test('validation errors never reach the server', async () => {
      await assert.rejects(Book.create({ title: 'x', year: 10 }), (e) => {
         assert.equal(e.name, 'ValidationError');
         assert.deepEqual(Object.keys(e.errors).sort(), ['title', 'year']);
         return true;
      });
      await assert.rejects(Author.create({ email: 'nobody@example.org' }), /Path `name` is required/);
   });

   test('a duplicate key surfaces as E11000 with keyValue', async () => {
      await assert.rejects(Author.create({ name: 'Other', email: 'ada@example.org' }), (e) => {
         assert.equal(e.code, 11000);
         assert.deepEqual(e.keyValue, { email: 'ada@example.org' });
         assert.deepEqual(e.keyPattern, { email: 1 });
         assert.match(e.message, /E11000 duplicate key error collection: .*authors index: email_1/);
         return true;
      });
      await assert.rejects(Book.updateOne({ title: 'Sketch' }, { $set: { title: 'Notes' } }), (e) => {
         assert.equal(e.code, 11000);
         assert.deepEqual(e.keyValue, { title: 'Notes' });
         return true;
      });
   });

   test('insertMany with ordered false inserts around the duplicate', async () => {
      await assert.rejects(
         Author.insertMany(
            [
               { name: 'Charles', email: 'charles@example.org' },
               { name: 'Copy', email: 'ada@example.org' },
               { name: 'Mary', email: 'mary@example.org' },
            ],
            { ordered: false },
         ),
         (e) => {
            assert.equal(e.code, 11000);
            assert.equal(e.writeErrors.length, 1);
            assert.equal(e.writeErrors[0].index, 1);
            assert.equal(e.insertedDocs.length, 2);
            return true;
         },
      );
      assert.deepEqual((await Author.find({}, { name: 1, _id: 0 }).sort({ name: 1 }).lean()).map((a) => a.name), [
         'Ada',
         'Charles',
         'Mary',
      ]);
   });

   test('collection-level bulkWrite through the model', async () => {
      const r = await Book.bulkWrite([
         { insertOne: { document: { title: 'Plan', year: 1870, price: 3 } } },
         { updateOne: { filter: { title: 'Plan' }, update: { $set: { price: 4 } } } },
         { updateMany: { filter: { year: { $lt: 1845 } }, update: { $addToSet: { tags: 'early' } } } },
         { replaceOne: { filter: { title: 'Engine' }, replacement: { title: 'Engine', year: 1901 } } },
         { deleteOne: { filter: { title: 'Treatise' } } },
         { updateOne: { filter: { title: 'Draft' }, update: { $set: { year: 1880 } }, upsert: true } },
      ]);
      assert.equal(r.insertedCount, 1);
      assert.equal(r.matchedCount, 4);
      assert.equal(r.modifiedCount, 4);
      assert.equal(r.deletedCount, 1);
      assert.equal(r.upsertedCount, 1);
      assert.equal((await Book.findOne({ title: 'Plan' }).lean()).price, 4);
      assert.equal((await Book.findOne({ title: 'Engine' }).lean()).year, 1901);
      assert.equal(await Book.countDocuments({ tags: 'early' }), 2);
      assert.deepEqual((await Book.findOne({ title: 'Notes' }).lean()).tags, ['math', 'early']);
   });

   test('aggregate with $match, $group and $sort', async () => {
      const ada = await Author.findOne({ name: 'Ada' });
      const rows = await Book.aggregate([
         { $match: { year: { $gte: 1800 } } },
         { $group: { _id: '$author', books: { $sum: 1 }, total: { $sum: '$price' } } },
         { $sort: { books: -1, _id: -1 } },
      ]);
      // Both groups have 3 books; an ObjectId sorts after null, so descending puts it first.
      assert.equal(rows.length, 2);
      assert.equal(String(rows[0]._id), String(ada._id));
      assert.equal(rows[0].books, 3);
      assert.equal(rows[0].total, 10 + 6 + 8);
      assert.equal(rows[1]._id, null);
      assert.equal(rows[1].books, 3);
      assert.equal(rows[1].total, 4, '$sum skips the books without a price');
   });

   test('deleteMany and the counts after it', async () => {
      const r = await Book.deleteMany({ year: { $lt: 1850 } });
      assert.equal(r.deletedCount, 2);
      assert.equal(await Book.countDocuments(), 4);
      assert.equal((await Book.deleteMany({ title: 'nothing' })).deletedCount, 0);
   });
});
