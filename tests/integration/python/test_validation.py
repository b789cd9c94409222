#!/usr/bin/env python3
"""Schema validation through pymongo (https://www.mongodb.com/docs/manual/core/schema-validation/):
create with validator/validationLevel/validationAction, listCollections, collMod, and the
check on insert, update (operator, replacement, pipeline), upsert, findAndModify and
bulkWrite: 121 DocumentValidationFailure with errInfo, bypassDocumentValidation, the moderate
level and the warn action; $jsonSchema in find.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import harness  # noqa: E402

pymongo = harness.import_pymongo()
from pymongo import InsertOne, UpdateOne, ReplaceOne  # noqa: E402
from pymongo.errors import BulkWriteError, OperationFailure, WriteError  # noqa: E402

DB = 'it_validation'

SCHEMA = {'$jsonSchema': {
    'bsonType': 'object',
    'required': ['name', 'age'],
    'properties': {
        'name': {'bsonType': 'string'},
        'age': {'bsonType': 'int', 'minimum': 0},
    },
}}


def setUpModule():
    harness.start_module_server()


def tearDownModule():
    harness.stop_module_server()


class Validation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = harness.server.client()
        cls.db = cls.client[DB]

    @classmethod
    def tearDownClass(cls):
        cls.client.drop_database(DB)
        cls.client.close()

    def fresh(self, name, **options):
        self.db.drop_collection(name)
        return self.db.create_collection(name, **options)

    def test_create_and_list(self):
        self.fresh('c_list', validator=SCHEMA, validationLevel='moderate',
                   validationAction='warn')
        info = next(self.db.list_collections(filter={'name': 'c_list'}))
        self.assertEqual(info['options']['validator'], SCHEMA)
        self.assertEqual(info['options']['validationLevel'], 'moderate')
        self.assertEqual(info['options']['validationAction'], 'warn')

    def test_create_refusals(self):
        self.db.drop_collection('c_bad')
        with self.assertRaises(OperationFailure) as cm:
            self.db.create_collection('c_bad', validator={'$jsonSchema': {'format': 'x'}})
        self.assertEqual(cm.exception.code, 9)
        with self.assertRaises(OperationFailure) as cm:
            self.db.create_collection('c_bad', validator={'$where': 'true'})
        self.assertEqual(cm.exception.code, 224)
        with self.assertRaises(OperationFailure) as cm:
            self.db.create_collection('c_bad', validator={}, validationLevel='sometimes')
        self.assertEqual(cm.exception.code, 2)

    def test_insert(self):
        c = self.fresh('c_insert', validator=SCHEMA)
        c.insert_one({'_id': 1, 'name': 'Ada', 'age': 36})
        with self.assertRaises(WriteError) as cm:
            c.insert_one({'_id': 2, 'name': 'Bob'})
        self.assertEqual(cm.exception.code, 121)
        info = cm.exception.details['errInfo']
        self.assertEqual(info['failingDocumentId'], 2)
        self.assertEqual(info['details']['operatorName'], '$jsonSchema')
        rules = info['details']['schemaRulesNotSatisfied']
        self.assertEqual(rules[0]['operatorName'], 'required')
        self.assertEqual(rules[0]['missingProperties'], ['age'])
        # Unordered: the valid documents around the invalid one are inserted.
        with self.assertRaises(BulkWriteError) as cm:
            c.insert_many([{'_id': 3, 'name': 'C', 'age': 1}, {'_id': 4, 'name': 'D', 'age': -1},
                           {'_id': 5, 'name': 'E', 'age': 2}], ordered=False)
        errors = cm.exception.details['writeErrors']
        self.assertEqual([(e['index'], e['code']) for e in errors], [(1, 121)])
        self.assertEqual(cm.exception.details['nInserted'], 2)
        # Ordered: stops at the invalid one.
        with self.assertRaises(BulkWriteError) as cm:
            c.insert_many([{'_id': 6, 'name': 'F', 'age': 1}, {'_id': 7}, {'_id': 8, 'name': 'H', 'age': 1}])
        self.assertEqual(cm.exception.details['nInserted'], 1)
        self.assertEqual(sorted(d['_id'] for d in c.find()), [1, 3, 5, 6])
        # bypassDocumentValidation
        c.insert_one({'_id': 9}, bypass_document_validation=True)
        self.assertEqual(c.count_documents({'_id': 9}), 1)

    def test_updates(self):
        c = self.fresh('c_update', validator=SCHEMA)
        c.insert_one({'_id': 1, 'name': 'Ada', 'age': 36})
        with self.assertRaises(WriteError) as cm:
            c.update_one({'_id': 1}, {'$set': {'age': 'old'}})
        self.assertEqual(cm.exception.code, 121)
        self.assertEqual(cm.exception.details['errInfo']['failingDocumentId'], 1)
        with self.assertRaises(WriteError):
            c.replace_one({'_id': 1}, {'name': 'Ada'})
        with self.assertRaises(WriteError):
            c.update_one({'_id': 1}, [{'$unset': 'name'}])
        with self.assertRaises(WriteError):
            c.update_one({'_id': 2}, {'$set': {'name': 'X'}}, upsert=True)
        self.assertEqual(c.find_one({'_id': 1}), {'_id': 1, 'name': 'Ada', 'age': 36})
        self.assertIsNone(c.find_one({'_id': 2}))
        c.update_one({'_id': 1}, {'$inc': {'age': 1}})
        c.update_one({'_id': 1}, {'$set': {'age': 'old'}}, bypass_document_validation=True)
        self.assertEqual(c.find_one({'_id': 1})['age'], 'old')
        # findAndModify
        with self.assertRaises(OperationFailure) as cm:
            c.find_one_and_update({'_id': 3}, {'$set': {'name': 'Z'}}, upsert=True)
        self.assertEqual(cm.exception.code, 121)
        self.assertIn('errInfo', cm.exception.details)
        doc = c.find_one_and_update({'_id': 3}, {'$set': {'name': 'Z', 'age': 3}}, upsert=True,
                                    return_document=pymongo.ReturnDocument.AFTER)
        self.assertEqual(doc['age'], 3)

    def test_bulk_write(self):
        c = self.fresh('c_bulk', validator={'a': {'$gte': 0}})
        with self.assertRaises(BulkWriteError) as cm:
            c.bulk_write([InsertOne({'_id': 1, 'a': 1}), UpdateOne({'_id': 1}, {'$set': {'a': -1}}),
                          ReplaceOne({'_id': 1}, {'a': 2})], ordered=False)
        errors = cm.exception.details['writeErrors']
        self.assertEqual([(e['index'], e['code']) for e in errors], [(1, 121)])
        self.assertEqual(errors[0]['errInfo']['details']['operatorName'], '$and')
        self.assertEqual(c.find_one({'_id': 1})['a'], 2)
        c.bulk_write([UpdateOne({'_id': 1}, {'$set': {'a': -5}})], bypass_document_validation=True)
        self.assertEqual(c.find_one({'_id': 1})['a'], -5)

    def test_expr_validator(self):
        c = self.fresh('c_expr', validator={'$expr': {'$lt': ['$lo', '$hi']}})
        c.insert_one({'lo': 1, 'hi': 2})
        with self.assertRaises(WriteError):
            c.insert_one({'lo': 3, 'hi': 2})

    def test_moderate_and_warn(self):
        c = self.fresh('c_moderate')
        c.insert_many([{'_id': 1, 'a': -1}, {'_id': 2, 'a': 1}])
        self.db.command('collMod', 'c_moderate', validator={'a': {'$gte': 0}},
                        validationLevel='moderate')
        c.update_one({'_id': 1}, {'$set': {'b': 1}})  # invalid before: not checked
        with self.assertRaises(WriteError):
            c.update_one({'_id': 2}, {'$set': {'a': -2}})
        with self.assertRaises(WriteError):
            c.insert_one({'_id': 3, 'a': -3})
        self.db.command('collMod', 'c_moderate', validationAction='warn')
        c.insert_one({'_id': 3, 'a': -3})
        self.db.command('collMod', 'c_moderate', validationAction='error', validationLevel='off')
        c.insert_one({'_id': 4, 'a': -4})
        self.db.command('collMod', 'c_moderate', validationLevel='strict')
        with self.assertRaises(WriteError):
            c.update_one({'_id': 1}, {'$set': {'b': 2}})
        options = next(self.db.list_collections(filter={'name': 'c_moderate'}))['options']
        self.assertEqual(options['validator'], {'a': {'$gte': 0}})
        self.assertEqual(options['validationLevel'], 'strict')
        self.assertEqual(options['validationAction'], 'error')

    def test_coll_mod_drop_rename(self):
        c = self.fresh('c_mod')
        c.insert_one({'a': -1})
        self.db.command('collMod', 'c_mod', validator={'a': {'$gte': 0}})
        with self.assertRaises(WriteError):
            c.insert_one({'a': -2})
        with self.assertRaises(OperationFailure) as cm:
            self.db.command('collMod', 'c_mod', validator={'$jsonSchema': {'$ref': 'x'}})
        self.assertEqual(cm.exception.code, 9)
        self.db.drop_collection('c_mod_to')
        self.db.command('collMod', 'c_mod', validator={'a': {'$gte': 10}})
        self.client.admin.command('renameCollection', DB + '.c_mod', to=DB + '.c_mod_to')
        with self.assertRaises(WriteError):
            self.db.c_mod_to.insert_one({'a': 5})
        self.db.c_mod.insert_one({'a': -5})  # a new collection: no validator
        self.db.drop_collection('c_mod_to')
        self.db.c_mod_to.insert_one({'a': -5})
        self.db.command('collMod', 'c_mod_to', validator={})
        names = self.db.list_collection_names()
        self.assertFalse(any(n.startswith('__ferret') for n in names))

    def test_find_json_schema(self):
        c = self.fresh('c_find')
        c.insert_many([{'_id': 1, 'name': 'a', 'age': 1}, {'_id': 2, 'name': 'b'},
                       {'_id': 3, 'name': 5, 'age': 2}])
        got = [d['_id'] for d in c.find(SCHEMA)]
        self.assertEqual(got, [1])
        got = sorted(d['_id'] for d in c.find({'$nor': [SCHEMA]}))
        self.assertEqual(got, [2, 3])
        with self.assertRaises(OperationFailure) as cm:
            list(c.find({'$jsonSchema': {'type': 'integer'}}))
        self.assertEqual(cm.exception.code, 2)


if __name__ == '__main__':
    unittest.main(verbosity=2)
