#!/usr/bin/env node
// Runner for MongoDB specification tests in the "Unified Test Format",
// driving a real ferretd through the official Node.js driver.
//
// usage: node runner.mjs [--check] [DIR|FILE.json ...]
//   DIR defaults to $FERRET_SPEC_DIR/crud-unified, else ../shared/spec/crud-unified
//   beside the repository root.
//   --check   parse every file and check that the runner knows every entity
//             type and operation it uses; no server is started.
//
// env: the harness variables (FERRETD, FERRET_PLUGIN_DIR, FERRET_BACKEND,
// FERRET_PG_CONNINFO, or FERRET_URI for an already running server),
// FERRET_SPEC_REPORT (path: write a JSON summary there),
// FERRET_SPEC_FILTER (regex: run only tests whose "file: description" matches),
// FERRET_SPEC_VERBOSE=1 (print every test's status).
//
// Tests whose runOnRequirements a standalone server of the version reported
// by buildInfo cannot meet, or which need something the server lacks (fail
// points, sessions, transactions), are counted as skipped, never as passed.
// Exit status is non-zero only when a test fails that is not listed in
// expected-failures.txt beside this file (or the runner itself breaks).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import util from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');
const nodeDir = path.join(repoRoot, 'tests', 'integration', 'node');

// The driver is installed once, in tests/integration/node (see install.sh).
const requireNode = createRequire(path.join(nodeDir, 'package.json'));
let mongodb;
try {
   mongodb = requireNode('mongodb');
} catch (e) {
   console.error(`runner: cannot load the mongodb driver from ${nodeDir}/node_modules; ` +
      `run tests/integration/node/install.sh first (${e.message})`);
   process.exit(2);
}
const { MongoClient, MongoServerError, MongoError, ReadPreference, BSON } = mongodb;
const { EJSON } = BSON;

const SUPPORTED_SCHEMA = [1, 21]; // highest 1.x schema version understood

// The topology a ferretd presents.
const TOPOLOGY = 'single';

// Commands the runner never reports as observed events.
const SENSITIVE = new Set(['authenticate', 'saslstart', 'saslcontinue', 'getnonce', 'createuser',
   'updateuser', 'copydbgetnonce', 'copydbsaslstart', 'copydb']);

// ---------------------------------------------------------------------------
// Errors

// A problem in the runner or in a test file (never accepted as a client error).
class RunnerError extends Error {}
// The test cannot run here; counted as skipped.
class SkipTest extends Error {}
// An expectation did not hold.
class MatchError extends Error {}

// ---------------------------------------------------------------------------
// Value helpers

function isBson(v, type) {
   return v !== null && typeof v === 'object' && v._bsontype === type;
}

function isNumeric(v) {
   return typeof v === 'number' || typeof v === 'bigint' ||
      isBson(v, 'Int32') || isBson(v, 'Double') || isBson(v, 'Long');
}

function numValue(v) {
   if (typeof v === 'number') {
      return v;
   }
   if (typeof v === 'bigint') {
      return Number(v);
   }
   if (isBson(v, 'Long')) {
      return v.toNumber();
   }
   return v.valueOf();
}

function numEqual(a, b) {
   if (isBson(a, 'Long') && isBson(b, 'Long')) {
      return a.equals(b);
   }
   const x = numValue(a);
   const y = numValue(b);
   return x === y || (Number.isNaN(x) && Number.isNaN(y));
}

function isDocument(v) {
   return v !== null && typeof v === 'object' && !Array.isArray(v) && v._bsontype === undefined &&
      !(v instanceof Date) && !(v instanceof RegExp) && !Buffer.isBuffer(v) &&
      !(v instanceof Uint8Array) && !(v instanceof Map);
}

function show(v) {
   let s;
   try {
      s = EJSON.stringify(v, { relaxed: true });
   } catch {
      s = util.inspect(v, { depth: 6, breakLength: Infinity });
   }
   if (s === undefined) {
      s = 'undefined';
   }
   return s.length > 300 ? s.slice(0, 300) + '...' : s;
}

// The BSON type names a value may be described by ($$type). Numbers the
// driver promoted to JS numbers lost their width, so an integral number
// answers to int, long and double alike.
function typeNames(v) {
   if (v === undefined) {
      return ['undefined'];
   }
   if (v === null) {
      return ['null'];
   }
   if (typeof v === 'number') {
      const t = ['double', 'number'];
      if (Number.isInteger(v)) {
         t.push('long');
         if (v >= -2147483648 && v <= 2147483647) {
            t.push('int');
         }
      }
      return t;
   }
   if (typeof v === 'bigint') {
      return ['long', 'number'];
   }
   if (typeof v === 'string') {
      return ['string'];
   }
   if (typeof v === 'boolean') {
      return ['bool'];
   }
   if (Array.isArray(v)) {
      return ['array'];
   }
   if (v instanceof Date) {
      return ['date'];
   }
   if (v instanceof RegExp) {
      return ['regex'];
   }
   switch (v._bsontype) {
   case 'Int32': return ['int', 'number'];
   case 'Double': return ['double', 'number'];
   case 'Long': return ['long', 'number'];
   case 'Decimal128': return ['decimal', 'number'];
   case 'ObjectId': return ['objectId'];
   case 'Binary': return ['binData'];
   case 'BSONRegExp': return ['regex'];
   case 'Timestamp': return ['timestamp'];
   case 'MinKey': return ['minKey'];
   case 'MaxKey': return ['maxKey'];
   case 'BSONSymbol': return ['symbol'];
   case 'DBRef': return ['object', 'dbPointer'];
   case 'Code': return v.scope ? ['javascriptWithScope'] : ['javascript'];
   default: break;
   }
   return ['object'];
}

function regexParts(v) {
   if (v instanceof RegExp) {
      return [v.source, v.flags.split('').sort().join('')];
   }
   return [v.pattern, v.options.split('').sort().join('')];
}

function bytesOf(v) {
   if (isBson(v, 'Binary')) {
      return Buffer.from(v.buffer.subarray(0, v.position ?? v.buffer.length));
   }
   return Buffer.from(v);
}

// ---------------------------------------------------------------------------
// Matching (unified format "Evaluating Matches")

class Matcher {
   constructor(entities) {
      this.entities = entities;
   }

   fail(pathStr, msg) {
      throw new MatchError(`${pathStr || '<root>'}: ${msg}`);
   }

   isSpecial(v) {
      if (!isDocument(v)) {
         return false;
      }
      const keys = Object.keys(v);
      return keys.length === 1 && keys[0].startsWith('$$');
   }

   // Matches expected against actual; a root-level actual document may carry
   // fields the expected one does not name.
   match(expected, actual, pathStr = '', root = true) {
      if (actual instanceof Map) {
         // The driver keeps some command fields (sort) as ordered Maps.
         actual = Object.fromEntries(actual);
      }
      if (this.isSpecial(expected)) {
         this.matchSpecial(expected, actual, pathStr, root);
         return;
      }
      if (isDocument(expected)) {
         if (!isDocument(actual)) {
            this.fail(pathStr, `expected a document ${show(expected)}, got ${show(actual)}`);
         }
         for (const [k, ev] of Object.entries(expected)) {
            const p = pathStr ? `${pathStr}.${k}` : k;
            const av = actual[k];
            if (this.isSpecial(ev)) {
               const op = Object.keys(ev)[0];
               if (op === '$$exists') {
                  const present = Object.prototype.hasOwnProperty.call(actual, k) && av !== undefined;
                  if (present !== Boolean(ev[op])) {
                     this.fail(p, ev[op] ? 'expected the field to exist' : `expected no field, got ${show(av)}`);
                  }
                  continue;
               }
               if (op === '$$unsetOrMatches' && av === undefined) {
                  continue;
               }
            }
            if (av === undefined) {
               this.fail(p, `missing field, expected ${show(ev)}`);
            }
            this.match(ev, av, p, false);
         }
         if (!root) {
            for (const k of Object.keys(actual)) {
               if (actual[k] !== undefined && !Object.prototype.hasOwnProperty.call(expected, k)) {
                  this.fail(pathStr, `unexpected extra field '${k}': ${show(actual[k])}`);
               }
            }
         }
         return;
      }
      if (Array.isArray(expected)) {
         if (!Array.isArray(actual)) {
            this.fail(pathStr, `expected an array ${show(expected)}, got ${show(actual)}`);
         }
         if (expected.length !== actual.length) {
            this.fail(pathStr, `expected ${expected.length} elements ${show(expected)}, got ${actual.length} ${show(actual)}`);
         }
         // The documents of a root-level array (the result of find or
         // aggregate) are root-level documents themselves.
         expected.forEach((e, i) => this.match(e, actual[i], `${pathStr}[${i}]`, root));
         return;
      }
      this.matchValue(expected, actual, pathStr);
   }

   matchValue(expected, actual, pathStr) {
      const bad = () => this.fail(pathStr, `expected ${show(expected)}, got ${show(actual)}`);
      if (isNumeric(expected)) {
         if (!isNumeric(actual) || !numEqual(expected, actual)) {
            bad();
         }
         return;
      }
      if (expected === null || actual === null || expected === undefined) {
         if (expected !== actual) {
            bad();
         }
         return;
      }
      if (typeof expected !== 'object') {
         if (expected !== actual) {
            bad();
         }
         return;
      }
      if (expected instanceof Date) {
         if (!(actual instanceof Date) || actual.getTime() !== expected.getTime()) {
            bad();
         }
         return;
      }
      if (expected instanceof RegExp || isBson(expected, 'BSONRegExp')) {
         if (!(actual instanceof RegExp || isBson(actual, 'BSONRegExp'))) {
            bad();
         }
         const [ep, eo] = regexParts(expected);
         const [ap, ao] = regexParts(actual);
         if (ep !== ap || eo !== ao) {
            bad();
         }
         return;
      }
      switch (expected._bsontype) {
      case 'Decimal128':
         if (!isBson(actual, 'Decimal128') || actual.toString() !== expected.toString()) {
            bad();
         }
         return;
      case 'ObjectId':
         if (!isBson(actual, 'ObjectId') || !actual.equals(expected)) {
            bad();
         }
         return;
      case 'Binary':
         if (!isBson(actual, 'Binary') || actual.sub_type !== expected.sub_type ||
             !bytesOf(actual).equals(bytesOf(expected))) {
            bad();
         }
         return;
      case 'Timestamp':
         if (!isBson(actual, 'Timestamp') || actual.toString() !== expected.toString()) {
            bad();
         }
         return;
      case 'MinKey':
      case 'MaxKey':
         if (!isBson(actual, expected._bsontype)) {
            bad();
         }
         return;
      case 'Code':
         if (!isBson(actual, 'Code') || String(actual.code) !== String(expected.code)) {
            bad();
         }
         if (expected.scope) {
            this.match(expected.scope, actual.scope, `${pathStr}.$scope`, false);
         }
         return;
      case 'BSONSymbol':
         if (String(actual.valueOf()) !== String(expected.valueOf())) {
            bad();
         }
         return;
      default:
         if (EJSON.stringify(expected) !== EJSON.stringify(actual)) {
            bad();
         }
      }
   }

   matchSpecial(expected, actual, pathStr, root) {
      const op = Object.keys(expected)[0];
      const arg = expected[op];
      switch (op) {
      case '$$exists':
         // Only meaningful inside a document; handled there. At the top level
         // it asks whether a value was produced at all.
         if ((actual !== undefined) !== Boolean(arg)) {
            this.fail(pathStr, `$$exists ${arg} but got ${show(actual)}`);
         }
         return;
      case '$$type': {
         const want = Array.isArray(arg) ? arg : [arg];
         const have = typeNames(actual);
         if (!want.some((t) => have.includes(t))) {
            this.fail(pathStr, `expected type ${want.join('|')}, got ${have[0]} ${show(actual)}`);
         }
         return;
      }
      case '$$unsetOrMatches':
         if (actual === undefined) {
            return;
         }
         this.match(arg, actual, pathStr, root);
         return;
      case '$$matchesEntity': {
         if (!this.entities.has(arg)) {
            throw new RunnerError(`$$matchesEntity: no entity '${arg}'`);
         }
         this.match(this.entities.get(arg), actual, pathStr, root);
         return;
      }
      case '$$matchesHexBytes': {
         const want = Buffer.from(arg, 'hex');
         let got;
         try {
            got = bytesOf(actual);
         } catch {
            this.fail(pathStr, `expected bytes ${arg}, got ${show(actual)}`);
         }
         if (!got.equals(want)) {
            this.fail(pathStr, `expected bytes ${arg}, got ${got.toString('hex')}`);
         }
         return;
      }
      case '$$sessionLsid':
         throw new SkipTest('sessions are not supported by this runner');
      case '$$lte':
         if (!isNumeric(actual) || !(numValue(actual) <= numValue(arg))) {
            this.fail(pathStr, `expected <= ${show(arg)}, got ${show(actual)}`);
         }
         return;
      case '$$matchAsDocument': {
         if (typeof actual !== 'string') {
            this.fail(pathStr, `$$matchAsDocument needs a JSON string, got ${show(actual)}`);
         }
         this.match(arg, EJSON.parse(actual, { relaxed: false }), pathStr, false);
         return;
      }
      case '$$matchAsRoot':
         this.match(arg, actual, pathStr, true);
         return;
      default:
         throw new RunnerError(`unknown special operator ${op}`);
      }
   }
}

// ---------------------------------------------------------------------------
// Versions and requirements

function parseVersion(s) {
   const parts = String(s).split('.').map((x) => parseInt(x, 10) || 0);
   while (parts.length < 3) {
      parts.push(0);
   }
   return parts.slice(0, 3);
}

function cmpVersion(a, b) {
   const x = parseVersion(a);
   const y = parseVersion(b);
   for (let i = 0; i < 3; i++) {
      if (x[i] !== y[i]) {
         return x[i] < y[i] ? -1 : 1;
      }
   }
   return 0;
}

// Returns null when the server meets one requirement, else why not.
async function requirementUnmet(req, server) {
   if (req.minServerVersion && cmpVersion(server.version, req.minServerVersion) < 0) {
      return `needs server >= ${req.minServerVersion} (server reports ${server.version})`;
   }
   if (req.maxServerVersion && cmpVersion(server.version, req.maxServerVersion) > 0) {
      return `needs server <= ${req.maxServerVersion} (server reports ${server.version})`;
   }
   if (req.topologies) {
      const t = req.topologies.map((x) => (x === 'sharded-replicaset' ? 'sharded' : x));
      if (!t.includes(TOPOLOGY)) {
         return `needs topology ${req.topologies.join('|')} (server is ${TOPOLOGY})`;
      }
   }
   if (req.serverless === 'require') {
      return 'needs a serverless deployment';
   }
   if (req.auth === true) {
      return 'needs authentication enabled';
   }
   if (req.authMechanism) {
      return `needs auth mechanism ${req.authMechanism}`;
   }
   if (req.csfle === true || (req.csfle && typeof req.csfle === 'object')) {
      return 'needs client-side field level encryption';
   }
   if (req.serverParameters) {
      for (const [name, want] of Object.entries(req.serverParameters)) {
         let got;
         try {
            const r = await server.admin.command({ getParameter: 1, [name]: 1 });
            got = r[name];
         } catch (e) {
            return `needs server parameter ${name} (getParameter failed: ${e.message})`;
         }
         try {
            new Matcher(new Map()).match(want, got, name, false);
         } catch {
            return `needs server parameter ${name}=${show(want)} (server has ${show(got)})`;
         }
      }
   }
   return null;
}

async function requirementsUnmet(reqs, server) {
   if (!reqs || reqs.length === 0) {
      return null;
   }
   const reasons = [];
   for (const r of reqs) {
      const why = await requirementUnmet(r, server);
      if (why === null) {
         return null;
      }
      reasons.push(why);
   }
   return reasons.join('; or ');
}

// ---------------------------------------------------------------------------
// Operations

const COLLECTION_OPS = new Set(['aggregate', 'bulkWrite', 'count', 'countDocuments', 'createFindCursor',
   'createIndex', 'deleteMany', 'deleteOne', 'distinct', 'drop', 'dropIndex', 'dropIndexes',
   'estimatedDocumentCount', 'find', 'findOne', 'findOneAndDelete', 'findOneAndReplace',
   'findOneAndUpdate', 'insertMany', 'insertOne', 'listIndexes', 'listIndexNames', 'rename',
   'replaceOne', 'updateMany', 'updateOne']);
const DATABASE_OPS = new Set(['aggregate', 'createCollection', 'dropCollection', 'listCollections',
   'listCollectionNames', 'runCommand']);
const CLIENT_OPS = new Set(['listDatabases', 'listDatabaseNames', 'clientBulkWrite']);
const CURSOR_OPS = new Set(['iterateUntilDocumentOrError', 'iterateOnce', 'close']);
const RUNNER_OPS = new Set(['failPoint', 'assertCollectionExists', 'assertCollectionNotExists',
   'assertIndexExists', 'assertIndexNotExists']);
const SUPPORTED_ENTITIES = new Set(['client', 'database', 'collection']);
const UNSUPPORTED_FEATURE_OPS = new Set(['startTransaction', 'commitTransaction', 'abortTransaction',
   'withTransaction', 'targetedFailPoint', 'assertSessionTransactionState', 'assertSessionPinned',
   'assertSessionUnpinned', 'assertSessionDirty', 'assertSessionNotDirty', 'assertSameLsidOnLastTwoCommands',
   'assertDifferentLsidOnLastTwoCommands', 'endSession', 'createChangeStream', 'watch']);

function readPreferenceOf(rp) {
   if (!rp) {
      return undefined;
   }
   const { mode, ...rest } = rp;
   const m = mode.charAt(0).toLowerCase() + mode.slice(1);
   return new ReadPreference(m, rest.tagSets, rest);
}

// Converts unified-format entity options (readConcern, writeConcern,
// readPreference as documents) to driver options.
function driverCollOptions(o = {}) {
   const out = plainNumbers(o);
   if (o.readPreference) {
      out.readPreference = readPreferenceOf(o.readPreference);
   }
   return out;
}

// The driver inspects option values with typeof (maxTimeMS, skip, limit,
// batchSize, w: 0, sort directions), so the Int32/Double/Long wrappers that
// canonical EJSON parsing produced become plain numbers there. Documents that
// go to the server as data (filters, updates, inserted documents) keep their
// BSON types.
function plainNumbers(v) {
   if (isNumeric(v)) {
      return numValue(v);
   }
   if (Array.isArray(v)) {
      return v.map(plainNumbers);
   }
   if (isDocument(v)) {
      const out = {};
      for (const [k, x] of Object.entries(v)) {
         out[k] = plainNumbers(x);
      }
      return out;
   }
   return v;
}

const OPTION_DOCUMENTS = new Set(['writeConcern', 'readConcern', 'readPreference', 'sort', 'projection',
   'hint', 'collation', 'serverApi']);

function driverArguments(args) {
   const out = {};
   for (const [k, v] of Object.entries(args || {})) {
      out[k] = isNumeric(v) || OPTION_DOCUMENTS.has(k) ? plainNumbers(v) : v;
   }
   return out;
}

function resultOfWrite(r) {
   if (r === undefined || r === null) {
      return r;
   }
   // Copy public fields (some are getters on driver classes).
   const out = {};
   for (const k of ['acknowledged', 'insertedId', 'insertedIds', 'insertedCount', 'matchedCount',
      'modifiedCount', 'deletedCount', 'upsertedCount', 'upsertedId', 'upsertedIds']) {
      if (r[k] !== undefined) {
         out[k] = r[k];
      }
   }
   return out;
}

function mapToDoc(m) {
   if (!(m instanceof Map)) {
      return m;
   }
   const out = {};
   for (const [k, v] of m) {
      out[String(k)] = v;
   }
   return out;
}

// A client bulk write result as the CRUD spec describes it. The Node.js driver adds
// didUpsert to each update result (a field the spec does not have); it is left out.
function resultOfClientBulk(r) {
   if (r === undefined || r === null) {
      return r;
   }
   const out = {};
   for (const k of ['acknowledged', 'insertedCount', 'upsertedCount', 'matchedCount', 'modifiedCount',
      'deletedCount']) {
      if (r[k] !== undefined) {
         out[k] = r[k];
      }
   }
   for (const k of ['insertResults', 'updateResults', 'deleteResults']) {
      if (r[k] !== undefined) {
         out[k] = mapToDoc(r[k]);
      }
   }
   if (out.updateResults) {
      for (const [i, u] of Object.entries(out.updateResults)) {
         const { didUpsert: _d, ...rest } = u;
         out.updateResults[i] = rest;
      }
   }
   return out;
}

// The partial result of a failed client bulk write. The spec leaves it unset when no write
// succeeded; the Node.js driver always sets it, so the runner applies the spec's rule to what
// the server reported (every count zero and no individual result).
function partialResultOfClientBulk(r) {
   const out = resultOfClientBulk(r);
   if (!out) {
      return out;
   }
   const counts = ['insertedCount', 'upsertedCount', 'matchedCount', 'modifiedCount', 'deletedCount']
      .reduce((n, k) => n + (out[k] ? numValue(out[k]) : 0), 0);
   const details = ['insertResults', 'updateResults', 'deleteResults']
      .reduce((n, k) => n + (out[k] ? Object.keys(out[k]).length : 0), 0);
   return counts === 0 && details === 0 ? undefined : out;
}

class TestContext {
   constructor(runner, fileName) {
      this.runner = runner;
      this.server = runner.server;
      this.fileName = fileName;
      this.entities = new Map();
      this.clients = new Map(); // id -> {client, events, observe, ignore}
      this.failPoints = []; // {client, name}
      this.matcher = new Matcher(this.entities);
   }

   entity(id, kind) {
      if (!this.entities.has(id)) {
         throw new RunnerError(`no entity '${id}'`);
      }
      const e = this.entities.get(id);
      if (kind && this.kinds.get(id) !== kind) {
         throw new RunnerError(`entity '${id}' is a ${this.kinds.get(id)}, not a ${kind}`);
      }
      return e;
   }

   put(id, kind, value) {
      if (this.entities.has(id)) {
         throw new RunnerError(`entity '${id}' already exists`);
      }
      this.entities.set(id, value);
      this.kinds = this.kinds || new Map();
      this.kinds.set(id, kind);
   }

   async createEntities(list = []) {
      for (const spec of list) {
         const [kind, o] = Object.entries(spec)[0];
         if (kind === 'client') {
            await this.createClient(o);
         } else if (kind === 'database') {
            const c = this.entity(o.client, 'client');
            this.put(o.id, 'database', c.db(o.databaseName, driverCollOptions(o.databaseOptions)));
         } else if (kind === 'collection') {
            const d = this.entity(o.database, 'database');
            this.put(o.id, 'collection', d.collection(o.collectionName, driverCollOptions(o.collectionOptions)));
         } else {
            throw new SkipTest(`entity type '${kind}' is not supported by this runner`);
         }
      }
   }

   async createClient(o) {
      const url = new URL(this.server.uri);
      const uriOptions = plainNumbers(o.uriOptions || {});
      const opts = { serverSelectionTimeoutMS: 10000 };
      if (uriOptions.appname) {
         opts.appName = uriOptions.appname;
         delete uriOptions.appname;
      }
      for (const [k, v] of Object.entries(uriOptions)) {
         if (isDocument(v)) {
            opts[k] = v;
         } else {
            url.searchParams.set(k, String(isNumeric(v) ? numValue(v) : v));
         }
      }
      if (!url.searchParams.has('directConnection') && !this.server.external) {
         url.searchParams.set('directConnection', 'true');
      }
      if (o.serverApi) {
         opts.serverApi = { version: o.serverApi.version, strict: o.serverApi.strict,
            deprecationErrors: o.serverApi.deprecationErrors };
      }
      const observe = new Set(o.observeEvents || []);
      if (observe.size > 0) {
         opts.monitorCommands = true;
      }
      const client = new MongoClient(url.toString(), opts);
      const rec = {
         client,
         events: [],
         ignore: new Set((o.ignoreCommandMonitoringEvents || []).map((x) => x.toLowerCase())),
         sensitive: Boolean(o.observeSensitiveCommands),
      };
      const keep = (ev) => {
         const name = String(ev.commandName).toLowerCase();
         if (rec.ignore.has(name) || name === 'configurefailpoint') {
            return false;
         }
         if (!rec.sensitive && (SENSITIVE.has(name) ||
             ((name === 'hello' || name === 'ismaster') && ev.command && ev.command.speculativeAuthenticate))) {
            return false;
         }
         return true;
      };
      if (observe.has('commandStartedEvent')) {
         client.on('commandStarted', (ev) => {
            if (keep(ev)) {
               rec.events.push({ commandStartedEvent: { command: ev.command, commandName: ev.commandName,
                  databaseName: ev.databaseName } });
            }
         });
      }
      if (observe.has('commandSucceededEvent')) {
         client.on('commandSucceeded', (ev) => {
            if (keep(ev)) {
               rec.events.push({ commandSucceededEvent: { reply: ev.reply, commandName: ev.commandName,
                  databaseName: ev.databaseName } });
            }
         });
      }
      if (observe.has('commandFailedEvent')) {
         client.on('commandFailed', (ev) => {
            if (keep(ev)) {
               rec.events.push({ commandFailedEvent: { commandName: ev.commandName,
                  databaseName: ev.databaseName, failure: ev.failure } });
            }
         });
      }
      await client.connect();
      this.clients.set(o.id, rec);
      this.put(o.id, 'client', client);
   }

   async close() {
      for (const fp of this.failPoints) {
         try {
            await this.server.admin.command({ configureFailPoint: fp, mode: 'off' });
         } catch {
            // the server may be gone; the test already reports that
         }
      }
      for (const rec of this.clients.values()) {
         await rec.client.close(true).catch(() => {});
      }
   }

   // Runs one operation; returns its result or throws the error it raised.
   async execute(op) {
      const name = op.name;
      const args = driverArguments(op.arguments);
      if (args.session !== undefined) {
         throw new SkipTest('sessions are not supported by this runner');
      }
      if (op.object === 'testRunner') {
         return this.runnerOp(name, args);
      }
      const kind = this.kinds.get(op.object);
      const obj = this.entity(op.object);
      if (kind === 'collection') {
         return this.collectionOp(obj, name, args);
      }
      if (kind === 'database') {
         return this.databaseOp(obj, name, args);
      }
      if (kind === 'client') {
         return this.clientOp(obj, name, args);
      }
      if (kind === 'cursor') {
         return this.cursorOp(op.object, obj, name, args);
      }
      throw new RunnerError(`operation ${name} on ${kind} '${op.object}' is not supported`);
   }

   async runnerOp(name, args) {
      switch (name) {
      case 'failPoint': {
         if (!this.server.failPoints) {
            throw new SkipTest('server does not support configureFailPoint');
         }
         const client = this.entity(args.client, 'client');
         await client.db('admin').command(plainNumbers(args.failPoint));
         this.failPoints.push(args.failPoint.configureFailPoint);
         return undefined;
      }
      case 'assertCollectionExists':
      case 'assertCollectionNotExists': {
         const names = await this.server.client.db(args.databaseName).listCollections({}, { nameOnly: true })
            .toArray();
         const has = names.some((c) => c.name === args.collectionName);
         if (has !== (name === 'assertCollectionExists')) {
            throw new MatchError(`${name}: ${args.databaseName}.${args.collectionName}`);
         }
         return undefined;
      }
      case 'assertIndexExists':
      case 'assertIndexNotExists': {
         const idx = await this.server.client.db(args.databaseName).collection(args.collectionName)
            .listIndexes().toArray().catch(() => []);
         const has = idx.some((i) => i.name === args.indexName);
         if (has !== (name === 'assertIndexExists')) {
            throw new MatchError(`${name}: ${args.indexName}`);
         }
         return undefined;
      }
      default:
         throw new RunnerError(`test runner operation ${name} is not supported`);
      }
   }

   async collectionOp(coll, name, a) {
      const take = (...keys) => {
         const vals = keys.map((k) => a[k]);
         for (const k of keys) {
            delete a[k];
         }
         return vals;
      };
      if (a.returnDocument) {
         a.returnDocument = a.returnDocument.toLowerCase();
      }
      if (a.readPreference) {
         a.readPreference = readPreferenceOf(a.readPreference);
      }
      switch (name) {
      case 'insertOne': {
         const [doc] = take('document');
         return resultOfWrite(await coll.insertOne(doc, a));
      }
      case 'insertMany': {
         const [docs] = take('documents');
         return resultOfWrite(await coll.insertMany(docs, a));
      }
      case 'updateOne':
      case 'updateMany': {
         const [filter, update] = take('filter', 'update');
         return resultOfWrite(await coll[name](filter, update, a));
      }
      case 'replaceOne': {
         const [filter, repl] = take('filter', 'replacement');
         return resultOfWrite(await coll.replaceOne(filter, repl, a));
      }
      case 'deleteOne':
      case 'deleteMany': {
         const [filter] = take('filter');
         return resultOfWrite(await coll[name](filter, a));
      }
      case 'bulkWrite': {
         const [requests] = take('requests');
         return resultOfWrite(await coll.bulkWrite(requests, a));
      }
      case 'find': {
         const [filter] = take('filter');
         return coll.find(filter ?? {}, a).toArray();
      }
      case 'findOne': {
         const [filter] = take('filter');
         return coll.findOne(filter ?? {}, a);
      }
      case 'createFindCursor': {
         const [filter] = take('filter');
         const cursor = coll.find(filter ?? {}, a);
         // Unified tests expect the find command to be sent at creation.
         await cursor.hasNext();
         return cursor;
      }
      case 'aggregate': {
         const [pipeline] = take('pipeline');
         return coll.aggregate(pipeline, a).toArray();
      }
      case 'countDocuments': {
         const [filter] = take('filter');
         return coll.countDocuments(filter ?? {}, a);
      }
      case 'count': {
         const [filter] = take('filter');
         return coll.count(filter ?? {}, a);
      }
      case 'estimatedDocumentCount':
         return coll.estimatedDocumentCount(a);
      case 'distinct': {
         const [field, filter] = take('fieldName', 'filter');
         return coll.distinct(field, filter ?? {}, a);
      }
      case 'findOneAndUpdate': {
         const [filter, update] = take('filter', 'update');
         return coll.findOneAndUpdate(filter, update, a);
      }
      case 'findOneAndReplace': {
         const [filter, repl] = take('filter', 'replacement');
         return coll.findOneAndReplace(filter, repl, a);
      }
      case 'findOneAndDelete': {
         const [filter] = take('filter');
         return coll.findOneAndDelete(filter, a);
      }
      case 'drop':
         return coll.drop(a);
      case 'createIndex': {
         const [keys] = take('keys');
         return coll.createIndex(keys, a);
      }
      case 'dropIndex': {
         const [n] = take('name');
         return coll.dropIndex(n, a);
      }
      case 'dropIndexes':
         return coll.dropIndexes(a);
      case 'listIndexes':
         return coll.listIndexes(a).toArray();
      case 'listIndexNames':
         return (await coll.listIndexes(a).toArray()).map((i) => i.name);
      case 'rename': {
         const [to] = take('to');
         await coll.rename(to, a);
         return undefined;
      }
      default:
         throw new RunnerError(`collection operation ${name} is not supported`);
      }
   }

   async databaseOp(db, name, a) {
      switch (name) {
      case 'createCollection': {
         const { collection, ...o } = a;
         await db.createCollection(collection, o);
         return undefined;
      }
      case 'dropCollection': {
         const { collection, ...o } = a;
         await db.dropCollection(collection, o);
         return undefined;
      }
      case 'listCollections': {
         const { filter, ...o } = a;
         return db.listCollections(filter ?? {}, o).toArray();
      }
      case 'listCollectionNames': {
         const { filter, ...o } = a;
         return (await db.listCollections(filter ?? {}, { ...o, nameOnly: true }).toArray()).map((c) => c.name);
      }
      case 'runCommand': {
         const { command, readPreference, commandName: _n, ...o } = a;
         if (readPreference) {
            o.readPreference = readPreferenceOf(readPreference);
         }
         return db.command(command, o);
      }
      case 'aggregate': {
         const { pipeline, ...o } = a;
         return db.aggregate(pipeline, o).toArray();
      }
      default:
         throw new RunnerError(`database operation ${name} is not supported`);
      }
   }

   async clientOp(client, name, a) {
      switch (name) {
      case 'listDatabases': {
         const { filter, ...o } = a;
         const r = await client.db('admin').admin().listDatabases({ ...o, filter });
         return r.databases;
      }
      case 'listDatabaseNames': {
         const { filter, ...o } = a;
         const r = await client.db('admin').admin().listDatabases({ ...o, filter, nameOnly: true });
         return r.databases.map((d) => d.name);
      }
      case 'clientBulkWrite': {
         if (typeof client.bulkWrite !== 'function') {
            throw new SkipTest('this driver has no client bulkWrite');
         }
         const { models, ...o } = a;
         const m = models.map((x) => {
            const [k, v] = Object.entries(x)[0];
            return { name: k, ...v };
         });
         return resultOfClientBulk(await client.bulkWrite(m, o));
      }
      default:
         throw new RunnerError(`client operation ${name} is not supported`);
      }
   }

   async cursorOp(id, cursor, name) {
      switch (name) {
      case 'iterateUntilDocumentOrError': {
         const d = await cursor.next();
         if (d === null) {
            throw new MatchError('cursor exhausted before a document arrived');
         }
         return d;
      }
      case 'iterateOnce':
         return cursor.tryNext();
      case 'close':
         await cursor.close();
         return undefined;
      default:
         throw new RunnerError(`cursor operation ${name} is not supported`);
      }
   }

   checkError(exp, err, opName) {
      if (err instanceof RunnerError || err instanceof SkipTest || err instanceof MatchError) {
         throw err;
      }
      const desc = `${opName} raised ${err && err.name}: ${err && err.message}`;
      const isServer = err instanceof MongoServerError;
      if (exp.isClientError !== undefined) {
         // A network error is a client error too: it does not come from a server reply.
         const client = !isServer;
         if (client !== exp.isClientError) {
            throw new MatchError(`expected ${exp.isClientError ? 'a client' : 'a server'} error; ${desc}`);
         }
      }
      if (exp.isTimeoutError !== undefined) {
         const t = err.name === 'MongoOperationTimeoutError';
         if (t !== exp.isTimeoutError) {
            throw new MatchError(`isTimeoutError ${exp.isTimeoutError}; ${desc}`);
         }
      }
      if (exp.errorContains !== undefined) {
         if (!String(err.message).toLowerCase().includes(exp.errorContains.toLowerCase())) {
            throw new MatchError(`expected the message to contain '${exp.errorContains}'; ${desc}`);
         }
      }
      const code = err.code ?? (err.writeErrors && err.writeErrors[0] && err.writeErrors[0].code) ??
         (err.cause && err.cause.code);
      if (exp.errorCode !== undefined) {
         if (!isServer && !(err.cause instanceof MongoServerError)) {
            throw new MatchError(`expected server error code ${exp.errorCode}; ${desc}`);
         }
         // Test files are read as canonical EJSON, so the expected code is an Int32.
         if (!isNumeric(code) || !numEqual(code, exp.errorCode)) {
            throw new MatchError(`expected error code ${exp.errorCode}, got ${code}; ${desc}`);
         }
      }
      if (exp.errorCodeName !== undefined) {
         const cn = err.codeName ?? (err.errorResponse && err.errorResponse.codeName) ??
            (err.cause && err.cause.codeName);
         if (cn !== exp.errorCodeName) {
            throw new MatchError(`expected codeName ${exp.errorCodeName}, got ${cn}; ${desc}`);
         }
      }
      for (const l of exp.errorLabelsContain || []) {
         if (!(typeof err.hasErrorLabel === 'function' && err.hasErrorLabel(l))) {
            throw new MatchError(`expected error label ${l}; ${desc}`);
         }
      }
      for (const l of exp.errorLabelsOmit || []) {
         if (typeof err.hasErrorLabel === 'function' && err.hasErrorLabel(l)) {
            throw new MatchError(`unexpected error label ${l}; ${desc}`);
         }
      }
      if (exp.errorResponse !== undefined) {
         // A client bulk write wraps the server's error (its cause) in an error of its own.
         const wrapped = err.name === 'MongoClientBulkWriteError' && err.cause && err.cause.errorResponse;
         const resp = wrapped || err.errorResponse || (err.cause && err.cause.errorResponse) || err;
         this.matcher.match(exp.errorResponse, resp, 'errorResponse', true);
      }
      if (exp.expectResult !== undefined) {
         let partial;
         if (opName === 'clientBulkWrite') {
            partial = partialResultOfClientBulk(err.partialResult);
         } else {
            partial = resultOfWrite(err.result);
         }
         this.matcher.match(exp.expectResult, partial, 'expectError.expectResult', true);
      }
      if (exp.writeErrors !== undefined) {
         const we = mapToDoc(err.writeErrors);
         if (!we) {
            throw new MatchError(`expected writeErrors; ${desc}`);
         }
         // The same indexes as expected, each error matched as a root-level document (its
         // extra fields, such as message, are allowed).
         const want = Object.keys(exp.writeErrors).sort();
         const have = Object.keys(we).sort();
         if (want.join() !== have.join()) {
            throw new MatchError(`expected writeErrors at [${want}], got [${have}]: ${show(we)}; ${desc}`);
         }
         for (const [k, v] of Object.entries(we)) {
            const got = { code: v.code, message: v.message };
            if (v.details !== undefined) {
               got.details = v.details;
            }
            this.matcher.match(exp.writeErrors[k], got, `writeErrors.${k}`, true);
         }
      }
      if (exp.writeConcernErrors !== undefined) {
         const wce = (err.writeConcernErrors || []).map((e) => ({ code: e.code, message: e.message ?? e.errmsg }));
         this.matcher.match(exp.writeConcernErrors, wce, 'writeConcernErrors', false);
      }
   }

   async runOperation(op, i) {
      const label = `operation ${i} (${op.name} on ${op.object})`;
      let result;
      let error = null;
      try {
         result = await this.execute(op);
      } catch (e) {
         if (e instanceof RunnerError || e instanceof SkipTest) {
            throw e;
         }
         error = e;
      }
      if (op.ignoreResultAndError) {
         return;
      }
      if (op.expectError) {
         if (!error) {
            throw new MatchError(`${label}: expected an error, got result ${show(result)}`);
         }
         try {
            this.checkError(op.expectError, error, op.name);
         } catch (e) {
            if (e instanceof MatchError) {
               e.message = `${label}: ${e.message}`;
            }
            throw e;
         }
         return;
      }
      if (error) {
         if (error instanceof MatchError) {
            error.message = `${label}: ${error.message}`;
            throw error;
         }
         const code = error.code !== undefined ? ` (code ${error.code}${error.codeName ? ' ' + error.codeName : ''})` : '';
         throw new MatchError(`${label}: unexpected error ${error.name}${code}: ${error.message}`);
      }
      if (op.expectResult !== undefined) {
         try {
            this.matcher.match(op.expectResult, result, '', true);
         } catch (e) {
            if (e instanceof MatchError) {
               e.message = `${label}: result ${e.message}`;
            }
            throw e;
         }
      }
      if (op.saveResultAsEntity) {
         const kind = op.name === 'createFindCursor' || op.name === 'createCommandCursor' ? 'cursor' : 'value';
         this.put(op.saveResultAsEntity, kind, result);
      }
   }

   checkEvents(expectEvents) {
      for (const ee of expectEvents) {
         const rec = this.clients.get(ee.client);
         if (!rec) {
            throw new RunnerError(`expectEvents: no client '${ee.client}'`);
         }
         const type = ee.eventType || 'command';
         if (type !== 'command') {
            throw new SkipTest(`expectEvents of type ${type} are not supported by this runner`);
         }
         const actual = rec.events;
         const expected = ee.events;
         if (ee.ignoreExtraEvents ? actual.length < expected.length : actual.length !== expected.length) {
            throw new MatchError(`expected ${expected.length} events for ${ee.client}, got ${actual.length}: ` +
               actual.map((e) => Object.values(e)[0].commandName + ':' + Object.keys(e)[0]).join(', '));
         }
         expected.forEach((e, i) => {
            const [etype, want] = Object.entries(e)[0];
            const got = actual[i];
            const p = `event ${i}`;
            if (!got[etype]) {
               throw new MatchError(`${p}: expected ${etype}, got ${Object.keys(got)[0]} (${Object.values(got)[0].commandName})`);
            }
            const g = got[etype];
            if (want.commandName !== undefined && want.commandName !== g.commandName) {
               throw new MatchError(`${p}: expected command ${want.commandName}, got ${g.commandName}`);
            }
            if (want.databaseName !== undefined && want.databaseName !== g.databaseName) {
               throw new MatchError(`${p}: expected database ${want.databaseName}, got ${g.databaseName}`);
            }
            if (want.command !== undefined) {
               this.matcher.match(want.command, g.command, `${p} (${g.commandName}) command`, true);
            }
            if (want.reply !== undefined) {
               this.matcher.match(want.reply, g.reply, `${p} (${g.commandName}) reply`, true);
            }
         });
      }
   }

   async checkOutcome(outcome) {
      for (const c of outcome) {
         const docs = await this.server.client.db(c.databaseName).collection(c.collectionName)
            .find({}, { sort: { _id: 1 }, readConcern: { level: 'local' } }).toArray();
         const p = `outcome ${c.databaseName}.${c.collectionName}`;
         if (docs.length !== c.documents.length) {
            throw new MatchError(`${p}: expected ${c.documents.length} documents ${show(c.documents)}, ` +
               `got ${docs.length} ${show(docs)}`);
         }
         c.documents.forEach((d, i) => this.matcher.match(d, docs[i], `${p}[${i}]`, false));
      }
   }
}

// ---------------------------------------------------------------------------
// Files and tests

function loadFile(file) {
   const text = fs.readFileSync(file, 'utf8');
   return EJSON.parse(text, { relaxed: false });
}

// Tests that check what the Node.js driver sends, where this driver is known
// to differ from the spec (its own test suite skips them too). They say
// nothing about the server, so they are skipped with the reason.
const DRIVER_SKIPS = [
   [/^bypassDocumentValidation\.json: (Aggregate with \$out|BulkWrite|InsertMany|FindOneAndReplace|FindOneAndUpdate) passes bypassDocumentValidation: false$/,
      'the Node.js driver omits bypassDocumentValidation: false from the command'],
];

// Features docs/compat.md lists as not supported: tests using them are skipped with that
// reason, never counted as passed or failed (the rule for runnable tests).
const COMPAT_FILE = path.join(repoRoot, 'docs', 'compat.md');
function loadNotSupported() {
   const byKind = new Map();
   if (!fs.existsSync(COMPAT_FILE)) {
      return byKind;
   }
   for (const line of fs.readFileSync(COMPAT_FILE, 'utf8').split('\n')) {
      const m = /^- not-supported: (\w+) (\S+)$/.exec(line.trim());
      if (m) {
         if (!byKind.has(m[1])) {
            byKind.set(m[1], new Set());
         }
         byKind.get(m[1]).add(m[2]);
      }
   }
   return byKind;
}
const NOT_SUPPORTED = loadNotSupported();
const COMMAND_OF_OP = { createIndex: 'createIndexes', createIndexes: 'createIndexes',
   dropIndex: 'dropIndexes', dropIndexes: 'dropIndexes', createSearchIndex: 'createSearchIndexes',
   watch: 'changeStream' };

function compatSkip(test) {
   const has = (kind, token) => NOT_SUPPORTED.get(kind)?.has(token);
   const found = [];
   const scan = (value, depth) => {
      if (depth > 40 || value === null || typeof value !== 'object') {
         return;
      }
      for (const [k, v] of Object.entries(value)) {
         if (k.startsWith('$') && (has('stage', k) || has('expression', k) || has('query', k))) {
            found.push(k);
         }
         scan(v, depth + 1);
      }
   };
   for (const op of test.operations) {
      const args = op.arguments || {};
      const collation = args.collation;
      if (collation !== undefined && has('option', 'collation') &&
          !(collation && collation.locale === 'simple')) {
         return 'not supported (docs/compat.md): option collation';
      }
      if (args.let !== undefined && has('option', 'let')) {
         return 'not supported (docs/compat.md): option let';
      }
      if (op.name === 'createCollection' && args.viewOn !== undefined && has('feature', 'views')) {
         return 'not supported (docs/compat.md): feature views';
      }
      const command = op.name === 'runCommand' && args.command ? Object.keys(args.command)[0]
         : COMMAND_OF_OP[op.name];
      if (command && has('command', command)) {
         return `not supported (docs/compat.md): command ${command}`;
      }
      scan(args, 0);
      if (found.length) {
         return `not supported (docs/compat.md): ${found[0]}`;
      }
   }
   return null;
}

// Reasons a test cannot run that are known without a server.
function staticSkip(doc, test, fileName) {
   const compat = compatSkip(test);
   if (compat) {
      return compat;
   }
   const key = `${fileName}: ${test.description}`;
   for (const [re, why] of DRIVER_SKIPS) {
      if (re.test(key)) {
         return `driver: ${why}`;
      }
   }
   for (const e of doc.createEntities || []) {
      const kind = Object.keys(e)[0];
      if (!SUPPORTED_ENTITIES.has(kind)) {
         return `uses ${kind} entities (not supported: standalone server without sessions/transactions)`;
      }
   }
   for (const op of test.operations) {
      if (UNSUPPORTED_FEATURE_OPS.has(op.name)) {
         return `uses ${op.name} (transactions, sessions and change streams are not supported)`;
      }
      if (op.arguments && op.arguments.session !== undefined) {
         return 'uses sessions (not supported)';
      }
   }
   return null;
}

// Problems of the runner with a file: operations or features it does not know.
function staticCheck(doc) {
   const problems = [];
   const [maj, min] = String(doc.schemaVersion).split('.').map((x) => parseInt(x, 10));
   if (maj !== SUPPORTED_SCHEMA[0] || min > SUPPORTED_SCHEMA[1]) {
      problems.push(`schemaVersion ${doc.schemaVersion} is not supported (runner knows 1.0-1.${SUPPORTED_SCHEMA[1]})`);
   }
   const kinds = new Map();
   for (const e of doc.createEntities || []) {
      const [k, o] = Object.entries(e)[0];
      kinds.set(o.id, k);
   }
   for (const t of doc.tests) {
      for (const op of t.operations) {
         const kind = op.object === 'testRunner' ? 'testRunner' : (kinds.get(op.object) ||
            (op.saveResultAsEntity ? 'cursor' : 'cursor'));
         const known = {
            testRunner: RUNNER_OPS, collection: COLLECTION_OPS, database: DATABASE_OPS, client: CLIENT_OPS,
            cursor: CURSOR_OPS,
         }[kind];
         if ((!known || !known.has(op.name)) && !UNSUPPORTED_FEATURE_OPS.has(op.name)) {
            problems.push(`${t.description}: unknown operation ${op.name} on ${kind} ${op.object}`);
         }
      }
   }
   return problems;
}

function loadExpectedFailures() {
   const file = path.join(here, 'expected-failures.txt');
   const out = new Map();
   if (!fs.existsSync(file)) {
      return out;
   }
   for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (!line || line.startsWith('#')) {
         continue;
      }
      const i = line.indexOf(': ');
      if (i < 0) {
         // A whole file.
         out.set(`${line}: *`, true);
         continue;
      }
      out.set(line, true);
   }
   return out;
}

function withTimeout(promise, ms, what) {
   let timer;
   return Promise.race([
      promise.finally(() => clearTimeout(timer)),
      new Promise((_, reject) => {
         timer = setTimeout(() => reject(new MatchError(`${what} timed out after ${ms / 1000} s`)), ms);
      }),
   ]);
}

class Runner {
   constructor(files, suiteName) {
      this.files = files;
      this.suiteName = suiteName;
      this.expected = loadExpectedFailures();
      this.seenExpected = new Set();
      this.filter = process.env.FERRET_SPEC_FILTER ? new RegExp(process.env.FERRET_SPEC_FILTER) : null;
      this.verbose = Boolean(process.env.FERRET_SPEC_VERBOSE);
      this.report = { suite: suiteName, server: {}, files: [], totals: {} };
   }

   async startServer() {
      const harness = await import(pathToFileURL(path.join(nodeDir, 'harness.mjs')).href);
      this.harness = harness;
      this.srv = await harness.startServer();
      const client = harness.newClient(this.srv);
      await client.connect();
      const admin = client.db('admin');
      const info = await admin.command({ buildInfo: 1 });
      const hello = await admin.command({ hello: 1 });
      let failPoints = false;
      try {
         await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
         failPoints = true;
      } catch {
         failPoints = false;
      }
      this.server = {
         uri: this.srv.uri,
         external: this.srv.external,
         client,
         admin,
         version: info.version,
         maxWireVersion: hello.maxWireVersion,
         failPoints,
      };
      this.report.server = { version: info.version, maxWireVersion: hello.maxWireVersion,
         backend: process.env.FERRET_URI ? 'external' : (process.env.FERRET_BACKEND || 'sqlite'),
         failPoints };
      if (hello.setName || hello.msg === 'isdbgrid') {
         console.log(`note: server reports a ${hello.setName ? 'replica set' : 'sharded'} topology; ` +
            `tests run as for '${TOPOLOGY}'`);
      }
      console.log(`server: version ${info.version}, maxWireVersion ${hello.maxWireVersion}` +
         `, backend ${this.report.server.backend}, failPoints ${failPoints ? 'yes' : 'no'}`);
   }

   async stopServer() {
      if (this.server) {
         await this.server.client.close(true).catch(() => {});
      }
      if (this.srv) {
         await this.srv.stop();
      }
   }

   // After a crash, record it and bring up a fresh server so the rest still runs.
   async recoverIfDead() {
      if (this.srv.external || !this.srv.exit) {
         return null;
      }
      const why = `server died (code ${this.srv.exit.code}, signal ${this.srv.exit.signal}):\n` +
         this.srv.stderrTail(15);
      this.crashes = (this.crashes || 0) + 1;
      await this.server.client.close(true).catch(() => {});
      await this.startServer();
      return why;
   }

   async setupInitialData(initialData = []) {
      for (const c of initialData) {
         const db = this.server.client.db(c.databaseName);
         try {
            await db.collection(c.collectionName).drop();
         } catch (e) {
            if (e.code !== 26) {
               throw new MatchError(`initialData: drop ${c.databaseName}.${c.collectionName} failed: ${e.message}`);
            }
         }
         try {
            if (c.createOptions || c.documents.length === 0) {
               await db.createCollection(c.collectionName, c.createOptions || {});
            }
            if (c.documents.length > 0) {
               await db.collection(c.collectionName).insertMany(c.documents);
            }
         } catch (e) {
            throw new MatchError(`initialData for ${c.databaseName}.${c.collectionName} failed: ` +
               `${e.name}${e.code !== undefined ? ' code ' + e.code : ''}: ${e.message}`);
         }
      }
   }

   async runTest(fileName, doc, test) {
      const ctx = new TestContext(this, fileName);
      try {
         await this.setupInitialData(doc.initialData);
         await ctx.createEntities(doc.createEntities);
         for (let i = 0; i < test.operations.length; i++) {
            await ctx.runOperation(test.operations[i], i);
         }
         if (test.expectEvents) {
            ctx.checkEvents(test.expectEvents);
         }
         if (test.outcome) {
            await ctx.checkOutcome(test.outcome);
         }
      } finally {
         await ctx.close();
      }
   }

   async runFile(file) {
      const fileName = path.basename(file);
      const fr = { file: fileName, passed: 0, failed: 0, skipped: 0, tests: [] };
      this.report.files.push(fr);
      let doc;
      try {
         doc = loadFile(file);
      } catch (e) {
         fr.failed++;
         fr.tests.push({ description: '<file>', status: 'fail', reason: `cannot parse: ${e.message}` });
         return fr;
      }
      const problems = staticCheck(doc);
      const fileSkip = await requirementsUnmet(doc.runOnRequirements, this.server);
      for (const test of doc.tests) {
         const key = `${fileName}: ${test.description}`;
         if (this.filter && !this.filter.test(key)) {
            continue;
         }
         const expectedFail = this.expected.has(key) || this.expected.has(`${fileName}: *`);
         if (expectedFail) {
            this.seenExpected.add(this.expected.has(key) ? key : `${fileName}: *`);
         }
         const rec = { description: test.description, status: 'pass', reason: '' };
         let skip = fileSkip || test.skipReason || staticSkip(doc, test, fileName) ||
            await requirementsUnmet(test.runOnRequirements, this.server);
         if (!skip && !this.server.failPoints && test.operations.some((o) => o.name === 'failPoint')) {
            skip = 'needs fail points (server does not support configureFailPoint)';
         }
         if (skip) {
            rec.status = 'skip';
            rec.reason = skip;
         } else if (problems.length > 0) {
            rec.status = 'fail';
            rec.reason = `runner cannot run this file: ${problems.join('; ')}`;
         } else {
            try {
               await withTimeout(this.runTest(fileName, doc, test), 120000, 'test');
            } catch (e) {
               if (e instanceof SkipTest) {
                  rec.status = 'skip';
                  rec.reason = e.message;
               } else {
                  rec.status = 'fail';
                  rec.reason = e instanceof MatchError ? e.message
                     : `${e.name}: ${e.message}${e instanceof RunnerError ? ' (runner)' : ''}`;
               }
            }
            const died = await this.recoverIfDead();
            if (died) {
               rec.status = 'fail';
               rec.reason = `${died}\n(previous reason: ${rec.reason || 'none'})`;
            }
         }
         if (rec.status === 'fail' && expectedFail) {
            rec.status = 'xfail';
         } else if (rec.status === 'pass' && expectedFail) {
            rec.unexpectedPass = true;
         }
         fr.tests.push(rec);
         if (rec.status === 'pass') {
            fr.passed++;
         } else if (rec.status === 'skip') {
            fr.skipped++;
         } else {
            fr.failed++;
         }
      }
      return fr;
   }

   printFile(fr) {
      console.log(`${fr.file}: ${fr.passed} passed, ${fr.failed} failed, ${fr.skipped} skipped`);
      for (const t of fr.tests) {
         const one = (s) => s.split('\n').map((l, i) => (i ? '      ' + l : l)).join('\n');
         if (t.status === 'fail') {
            console.log(`  FAIL  ${t.description}: ${one(t.reason)}`);
         } else if (t.status === 'xfail') {
            console.log(`  XFAIL ${t.description}: ${one(t.reason)}`);
         } else if (t.unexpectedPass) {
            console.log(`  XPASS ${t.description}: passes now; remove it from expected-failures.txt`);
         } else if (this.verbose) {
            console.log(`  ${t.status.toUpperCase().padEnd(5)} ${t.description}${t.reason ? ': ' + t.reason : ''}`);
         }
      }
   }

   async run() {
      await this.startServer();
      try {
         for (const f of this.files) {
            const fr = await this.runFile(f);
            if (fr.tests.length > 0 || !this.filter) {
               this.printFile(fr);
            }
         }
      } finally {
         await this.stopServer();
      }
      const t = { passed: 0, failed: 0, skipped: 0, expectedFailures: 0, unexpectedFailures: 0,
         unexpectedPasses: 0 };
      for (const fr of this.report.files) {
         for (const x of fr.tests) {
            if (x.status === 'pass') {
               t.passed++;
               if (x.unexpectedPass) {
                  t.unexpectedPasses++;
               }
            } else if (x.status === 'skip') {
               t.skipped++;
            } else {
               t.failed++;
               if (x.status === 'xfail') {
                  t.expectedFailures++;
               } else {
                  t.unexpectedFailures++;
               }
            }
         }
      }
      this.report.totals = t;
      if (!this.filter) {
         const ran = new Set(this.report.files.map((f) => f.file));
         for (const k of this.expected.keys()) {
            if (!this.seenExpected.has(k) && ran.has(k.slice(0, k.indexOf(': ')))) {
               console.log(`note: expected-failures.txt names an unknown test: ${k}`);
            }
         }
      }
      console.log(`(${t.expectedFailures} of the failures are expected, ${t.unexpectedFailures} unexpected; ` +
         `${t.unexpectedPasses} expected failures passed)`);
      console.log(`${this.suiteName}: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
      if (process.env.FERRET_SPEC_REPORT) {
         fs.writeFileSync(process.env.FERRET_SPEC_REPORT, JSON.stringify(this.report, null, 2) + '\n');
      }
      return t.unexpectedFailures === 0 ? 0 : 1;
   }
}

function listFiles(args) {
   const out = [];
   for (const a of args) {
      const st = fs.statSync(a);
      if (st.isDirectory()) {
         for (const f of fs.readdirSync(a).sort()) {
            if (f.endsWith('.json')) {
               out.push(path.join(a, f));
            }
         }
      } else {
         out.push(a);
      }
   }
   return out;
}

function check(files) {
   let bad = 0;
   let tests = 0;
   for (const f of files) {
      try {
         const doc = loadFile(f);
         tests += doc.tests.length;
         for (const p of staticCheck(doc)) {
            console.log(`${path.basename(f)}: ${p}`);
            bad++;
         }
      } catch (e) {
         console.log(`${path.basename(f)}: cannot parse: ${e.message}`);
         bad++;
      }
   }
   console.log(`check: ${files.length} files, ${tests} tests, ${bad} problems`);
   return bad === 0 ? 0 : 1;
}

async function main() {
   const argv = process.argv.slice(2);
   const checkOnly = argv.includes('--check');
   let targets = argv.filter((a) => !a.startsWith('--'));
   if (targets.length === 0) {
      const root = process.env.FERRET_SPEC_DIR || path.resolve(repoRoot, '..', 'shared', 'spec');
      targets = [path.join(root, 'crud-unified')];
   }
   for (const t of targets) {
      if (!fs.existsSync(t)) {
         console.error(`runner: no such file or directory: ${t}`);
         return 2;
      }
   }
   const files = listFiles(targets);
   if (files.length === 0) {
      console.error(`runner: no .json test files in ${targets.join(', ')}`);
      return 2;
   }
   if (checkOnly) {
      return check(files);
   }
   const suite = targets.length === 1 && fs.statSync(targets[0]).isDirectory()
      ? path.basename(path.resolve(targets[0])) : 'unified';
   return new Runner(files, suite).run();
}

export { Matcher, MatchError, cmpVersion, requirementsUnmet, staticCheck, loadExpectedFailures };

// Run only as a program, not when imported by the matcher's tests.
if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
   main().then((code) => {
      process.exitCode = code;
   }, (e) => {
      console.error(`runner: ${e.stack || e}`);
      process.exitCode = 2;
   });
}
