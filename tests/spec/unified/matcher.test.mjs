// Unit tests of the unified runner's matching rules (no server needed): a
// runner that matched too loosely would pass spec tests that should fail.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Matcher, MatchError, cmpVersion, requirementsUnmet } from './runner.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'integration', 'node', 'package.json'));
const { BSON } = require('mongodb');
const { EJSON, Long, ObjectId } = BSON;

const ej = (x) => EJSON.parse(JSON.stringify(x), { relaxed: false });
const m = new Matcher(new Map([['saved', { a: 1 }]]));
const ok = (exp, act, root = true) => m.match(ej(exp), act, '', root);
const bad = (exp, act, root = true) => assert.throws(() => m.match(ej(exp), act, '', root), MatchError);

describe('unified matcher', () => {
   test('root documents allow extra fields, nested ones do not', () => {
      ok({ x: 1 }, { x: 1, y: 2 });
      bad({ x: 1, y: 1 }, { x: 1 });
      bad({ x: { y: 1 } }, { x: { y: 1, z: 1 } });
      bad({ x: 1 }, { x: 1, y: 2 }, false);
   });

   test('numbers compare across int, long and double but not by value drift', () => {
      ok({ n: 1 }, { n: 1.0 });
      ok({ n: { $numberLong: '5' } }, { n: 5 });
      ok({ n: 1 }, { n: new Long(1) });
      bad({ n: 1 }, { n: 1.5 });
      bad({ n: 1 }, { n: '1' });
   });

   test('arrays must match in length and order', () => {
      ok({ a: [1, 2] }, { a: [1, 2] });
      bad({ a: [1, 2] }, { a: [2, 1] });
      bad({ a: [1] }, { a: [1, 2] });
      ok([{ _id: 1 }], [{ _id: 1, x: 1 }], true); // find results: each document is root-level
      bad({ a: [{ _id: 1 }] }, { a: [{ _id: 1, x: 1 }] });
      bad([{ _id: 1 }], [{ _id: 1, x: 1 }], false);
   });

   test('$$exists', () => {
      ok({ a: { $$exists: true } }, { a: null });
      ok({ a: { $$exists: false } }, { b: 1 });
      bad({ a: { $$exists: false } }, { a: 1 });
      bad({ a: { $$exists: true } }, {});
   });

   test('$$type', () => {
      ok({ a: { $$type: 'string' } }, { a: 's' });
      ok({ a: { $$type: ['int', 'long'] } }, { a: 3 });
      ok({ a: { $$type: 'objectId' } }, { a: new ObjectId() });
      ok({ a: { $$type: 'date' } }, { a: new Date() });
      bad({ a: { $$type: 'string' } }, { a: 3 });
      bad({ a: { $$type: 'int' } }, { a: 2.5 });
      bad({ a: { $$type: 'object' } }, { a: [1] });
   });

   test('$$unsetOrMatches', () => {
      ok({ a: { $$unsetOrMatches: 1 } }, {});
      ok({ a: { $$unsetOrMatches: 1 } }, { a: 1 });
      bad({ a: { $$unsetOrMatches: 1 } }, { a: 2 });
      ok({ $$unsetOrMatches: { insertedId: 1 } }, undefined);
      ok({ $$unsetOrMatches: { insertedId: 1 } }, { insertedId: 1, acknowledged: true });
      bad({ $$unsetOrMatches: { insertedId: 1 } }, { insertedId: 2 });
   });

   test('$$matchesEntity and $$lte', () => {
      ok({ x: { $$matchesEntity: 'saved' } }, { x: { a: 1 } });
      bad({ x: { $$matchesEntity: 'saved' } }, { x: { a: 2 } });
      ok({ x: { $$lte: 5 } }, { x: 5 });
      bad({ x: { $$lte: 5 } }, { x: 6 });
   });

   test('null, strings, booleans, ObjectIds compare by value and type', () => {
      ok(null, null);
      bad(null, undefined);
      bad({ a: null }, { a: 0 });
      bad({ a: true }, { a: 1 });
      const id = new ObjectId();
      ok({ a: { $oid: id.toHexString() } }, { a: id });
      bad({ a: { $oid: id.toHexString() } }, { a: new ObjectId() });
   });

   test('versions and requirements', async () => {
      assert.equal(cmpVersion('7.0.0', '7.0'), 0);
      assert.equal(cmpVersion('7.0.0', '8.0'), -1);
      assert.equal(cmpVersion('7.0.0', '4.4.99'), 1);
      const srv = { version: '7.0.0' };
      assert.equal(await requirementsUnmet([{ minServerVersion: '4.2' }], srv), null);
      assert.match(await requirementsUnmet([{ minServerVersion: '8.0' }], srv), /8\.0/);
      assert.match(await requirementsUnmet([{ maxServerVersion: '4.4.99' }], srv), /4\.4\.99/);
      assert.match(await requirementsUnmet([{ topologies: ['replicaset', 'sharded'] }], srv), /topology/);
      assert.equal(await requirementsUnmet([{ topologies: ['replicaset'] }, { topologies: ['single'] }], srv), null);
      assert.match(await requirementsUnmet([{ serverless: 'require' }], srv), /serverless/);
      assert.equal(await requirementsUnmet([{ serverless: 'forbid', minServerVersion: '3.6' }], srv), null);
      assert.match(await requirementsUnmet([{ auth: true }], srv), /auth/);
      assert.match(await requirementsUnmet([{ csfle: true }], srv), /encryption/);
   });
});
