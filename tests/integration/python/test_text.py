#!/usr/bin/env python3
"""Text search through pymongo (core/query/text.c, core/commands/textsearch.c): text indexes
as mongod creates and lists them, $text in find, count, distinct, updates, deletes and a
leading aggregate $match, and {$meta: "textScore"} in projections and sorts.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo.errors import OperationFailure  # noqa: E402

DB = 'it_text'

ARTICLES = [
    {'_id': 1, 'subject': 'coffee', 'author': 'xyz', 'views': 50},
    {'_id': 2, 'subject': 'Coffee Shopping', 'author': 'efg', 'views': 5},
    {'_id': 3, 'subject': 'Baking a cake', 'author': 'abc', 'views': 90},
    {'_id': 4, 'subject': 'baking', 'author': 'xyz', 'views': 100},
    {'_id': 5, 'subject': 'Café Con Leche', 'author': 'abc', 'views': 200},
    {'_id': 6, 'subject': 'Сырники', 'author': 'jkl', 'views': 80},
    {'_id': 7, 'subject': 'coffee and cream', 'author': 'efg', 'views': 10},
    {'_id': 8, 'subject': 'Cafe con Leche', 'author': 'xyz', 'views': 10},
]


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class TextTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.db = cls.client[DB]

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def articles(self):
        c = self.db[self.id().split('.')[-1]]
        c.drop()
        c.insert_many(ARTICLES)
        c.create_index([('subject', 'text')])
        return c

    def ids(self, cursor):
        return sorted(d['_id'] for d in cursor)

    def test_index_listing(self):
        c = self.db.listing
        c.drop()
        name = c.create_index([('title', 'text'), ('body', 'text')],
                              weights={'title': 10}, default_language='english')
        self.assertEqual(name, 'title_text_body_text')
        spec = [i for i in c.list_indexes() if i['name'] == name][0]
        self.assertEqual(dict(spec['key']), {'_fts': 'text', '_ftsx': 1})
        self.assertEqual(dict(spec['weights']), {'body': 1, 'title': 10})
        self.assertEqual(spec['default_language'], 'english')
        self.assertEqual(spec['language_override'], 'language')
        self.assertEqual(spec['textIndexVersion'], 3)
        # The same index again is no change; a second text index is 85.
        self.assertEqual(c.create_index([('title', 'text'), ('body', 'text')],
                                        weights={'title': 10}), name)
        with self.assertRaises(OperationFailure) as cm:
            c.create_index([('other', 'text')])
        self.assertEqual(cm.exception.code, 85)
        self.assertIn('Index already exists with a different name', str(cm.exception))
        # Dropped by name or by its listed key.
        self.db.command('dropIndexes', 'listing', index={'_fts': 'text', '_ftsx': 1})
        self.assertEqual(len(list(c.list_indexes())), 1)
        w = c.create_index([('$**', 'text')])
        self.assertEqual(w, '$**_text')
        spec = [i for i in c.list_indexes() if i['name'] == w][0]
        self.assertEqual(dict(spec['weights']), {'$**': 1})

    def test_index_errors(self):
        c = self.db.index_errors
        c.drop()
        with self.assertRaises(OperationFailure):
            c.create_index([('a', 'text')], default_language='klingon')
        with self.assertRaises(OperationFailure):
            c.create_index([('a', 'text')], weights={'a': 0})
        with self.assertRaises(OperationFailure):
            c.create_index([('a', 'text')], textIndexVersion=2)

    def test_search(self):
        c = self.articles()
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'coffee'}})), [1, 2, 7])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'bake coffee cake'}})),
                         [1, 2, 3, 4, 7])
        self.assertEqual(self.ids(c.find({'$text': {'$search': '"coffee shop"'}})), [2])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'coffee -shop'}})), [1, 7])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'leche'}})), [5, 8])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'сырники'}})), [6])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'Coffee',
                                                    '$caseSensitive': True}})), [2])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'CAFÉ',
                                                    '$diacriticSensitive': True}})), [5])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'cafe'}})), [5, 8])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'coffee'}, 'author': 'xyz'})),
                         [1])
        self.assertEqual(self.ids(c.find({'$text': {'$search': 'the and'}})), [])
        self.assertEqual(c.count_documents({'$text': {'$search': 'coffee'}}), 3)
        self.assertEqual(sorted(c.distinct('author', {'$text': {'$search': 'coffee'}})),
                         ['efg', 'xyz'])

    def test_scores(self):
        c = self.articles()
        docs = list(c.find({'$text': {'$search': 'coffee'}},
                           {'score': {'$meta': 'textScore'}, '_id': 1})
                    .sort([('score', {'$meta': 'textScore'}), ('_id', -1)]))
        self.assertEqual([d['_id'] for d in docs], [1, 7, 2])
        self.assertAlmostEqual(docs[0]['score'], 1.0)
        # 'and' is a stop word: two terms in each of the others.
        self.assertAlmostEqual(docs[1]['score'], 0.75)
        self.assertAlmostEqual(docs[2]['score'], 0.75)
        self.assertEqual(sorted(docs[0].keys()), ['_id', 'score'])
        # A projection of only $meta keeps every field.
        doc = c.find_one({'$text': {'$search': 'cake'}}, {'score': {'$meta': 'textScore'}})
        self.assertEqual(doc['subject'], 'Baking a cake')
        self.assertIn('score', doc)
        # Skip and limit after the score sort.
        docs = list(c.find({'$text': {'$search': 'coffee'}}, {'_id': 1})
                    .sort([('score', {'$meta': 'textScore'})]).skip(1).limit(1))
        self.assertEqual(docs[0]['_id'] in (2, 7), True)

    def test_aggregate(self):
        c = self.articles()
        docs = list(c.aggregate([
            {'$match': {'$text': {'$search': 'coffee cake'}}},
            {'$sort': {'score': {'$meta': 'textScore'}, '_id': 1}},
            {'$project': {'_id': 1, 'score': {'$meta': 'textScore'}}},
        ]))
        self.assertEqual([d['_id'] for d in docs], [1, 2, 3, 7])
        self.assertAlmostEqual(docs[0]['score'], 1.0)
        docs = list(c.aggregate([{'$match': {'$text': {'$search': 'coffee'}}},
                                 {'$addFields': {'s': {'$meta': 'textScore'}}},
                                 {'$match': {'s': {'$gt': 0.9}}}]))
        self.assertEqual([d['_id'] for d in docs], [1])
        self.assertNotIn('__ferret_textScore', docs[0])
        docs = list(c.aggregate([{'$match': {'$text': {'$search': 'coffee'}}},
                                 {'$group': {'_id': None, 'n': {'$sum': 1}}}]))
        self.assertEqual(docs[0]['n'], 3)

    def test_writes(self):
        c = self.articles()
        r = c.update_many({'$text': {'$search': 'coffee'}}, {'$set': {'hot': True}})
        self.assertEqual(r.modified_count, 3)
        r = c.delete_many({'$text': {'$search': 'baking'}})
        self.assertEqual(r.deleted_count, 2)

    def test_errors(self):
        c = self.db.no_index
        c.drop()
        c.insert_one({'a': 'coffee'})
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({'$text': {'$search': 'coffee'}}))
        self.assertEqual(cm.exception.code, 27)
        self.assertIn('text index required for $text query', str(cm.exception))
        c = self.articles()
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({'$and': [{'$text': {'$search': 'a'}}, {'$text': {'$search': 'b'}}]}))
        self.assertEqual(cm.exception.code, 2)
        self.assertIn('Too many text expressions', str(cm.exception))
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({'a': {'$elemMatch': {'$text': {'$search': 'a'}}}}))
        self.assertEqual(cm.exception.code, 2)
        with self.assertRaises(OperationFailure) as cm:
            list(c.aggregate([{'$match': {'views': 1}},
                              {'$match': {'$text': {'$search': 'coffee'}}}]))
        self.assertEqual(cm.exception.code, 17313)
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({}, {'score': {'$meta': 'textScore'}}))
        self.assertEqual(cm.exception.code, 40218)
        with self.assertRaises(OperationFailure) as cm:
            list(c.aggregate([{'$project': {'s': {'$meta': 'textScore'}}}]))
        self.assertEqual(cm.exception.code, 40218)
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({}, {'k': {'$meta': 'indexKey'}}))
        self.assertEqual(cm.exception.code, 238)
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({'$text': {'$search': 'x', '$language': 'klingon'}}))
        self.assertEqual(cm.exception.code, 17262)


if __name__ == '__main__':
    harness.main()
