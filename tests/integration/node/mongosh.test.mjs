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

   // The helpers people type at the prompt, each checked on what it prints. Every line is
   // `name=<JSON>` so that one failing helper names itself.
   test('admin and diagnostic helpers', async () => {
      const helpersDb = uniqueDbName('shh');
      const r = await mongosh(`mongodb://127.0.0.1:${server.port}/${helpersDb}?directConnection=true`, `
         function out(name, fn) {
            try { print(name + '=' + EJSON.stringify(fn(), {relaxed: true})); }
            catch (e) { print(name + '=ERROR ' + e.code + ' ' + e.codeName + ' ' + e.message); }
         }
         db.h.insertMany([{_id: 1, a: 1}, {_id: 2, a: 2}, {_id: 3, a: 3}]);
         out('dbs', () => db.getMongo().getDBs().databases.map(d => d.name).includes(db.getName()));
         out('showdbs', () => db.adminCommand({listDatabases: 1}).databases.some(d => d.name === db.getName() && d.sizeOnDisk > 0));
         out('collections', () => db.getCollectionNames());
         out('use', () => db.getSiblingDB('admin').getName());
         const st = db.stats();
         out('stats', () => [st.db, st.collections, st.objects, st.scaleFactor, st.dataSize > 0]);
         const kb = db.stats(1024);
         out('stats1024', () => [kb.scaleFactor, Math.abs(kb.dataSize * 1024 - st.dataSize) < 1e-6, kb.storageSize === Math.floor(st.storageSize / 1024)]);
         const cs = db.h.stats();
         out('collstats', () => [cs.ns, cs.count, cs.nindexes, cs.capped, Object.keys(cs.indexSizes)]);
         out('countDocuments', () => db.h.countDocuments());
         out('createIndex', () => db.h.createIndex({a: 1}, {name: 'a_1', expireAfterSeconds: 3600}));
         out('createUnique', () => db.h.createIndex({b: 1, c: -1}, {unique: true, sparse: true}));
         out('getIndexes', () => db.h.getIndexes().map(i => i.name));
         out('hideIndex', () => db.h.hideIndex('b_1_c_-1'));
         out('hidden', () => db.h.getIndexes().filter(i => i.hidden).map(i => i.name));
         out('unhideIndex', () => db.h.unhideIndex('b_1_c_-1'));
         out('collModTTL', () => db.runCommand({collMod: 'h', index: {keyPattern: {a: 1}, expireAfterSeconds: 60}}));
         out('ttl', () => db.h.getIndexes().find(i => i.name === 'a_1').expireAfterSeconds);
         out('collModMissing', () => db.runCommand({collMod: 'h', index: {name: 'nope', hidden: true}}));
         out('collModValidator', () => [db.runCommand({collMod: 'h', validator: {a: {$exists: true}}}).ok,
                                         db.runCommand({insert: 'h', documents: [{b: 1}]}).writeErrors[0].code]);
         out('collModNoop', () => db.runCommand({collMod: 'h', validationLevel: 'strict', validationAction: 'error'}));
         out('dropIndex', () => db.h.dropIndex('a_1').nIndexesWas);
         out('explain', () => db.h.find({a: 2}).explain().queryPlanner.namespace === db.getName() + '.h');
         const ss = db.serverStatus();
         out('serverStatus', () => [typeof ss.uptime, typeof ss.connections.current, typeof ss.mem.resident, ss.storageEngine.name.length > 0]);
         out('version', () => db.version() === db.serverBuildInfo().version && /^[0-9]+[.][0-9]+[.][0-9]+$/.test(db.version()));
         out('hostInfo', () => [typeof db.hostInfo().system.hostname, typeof db.hostInfo().os.type]);
         out('currentOpCmd', () => { const r = db.adminCommand({currentOp: 1}); return [r.ok, r.inprog.length, r.inprog[0].op, r.inprog[0].active]; });
         out('killOp', () => db.killOp(123456));
         const v = db.h.validate({full: true});
         out('validate', () => [v.valid, v.nrecords, v.nIndexes, v.keysPerIndex['_id_'], v.errors]);
         out('validateMissing', () => db.nothere.validate());
         out('createCollection', () => db.createCollection('capped1', {capped: true, size: 65536, max: 100}));
         out('createCappedNoSize', () => db.createCollection('capped2', {capped: true}));
         out('infos', () => db.getCollectionInfos({name: 'capped1'}).map(i => [i.name, i.type, i.options]));
         out('infosNameOnly', () => db.getCollectionInfos({}, {nameOnly: true, authorizedCollections: true}).map(i => i.name).sort());
         out('isCapped', () => db.capped1.isCapped());
         out('rename', () => db.capped1.renameCollection('capped3'));
         out('afterRename', () => db.getCollectionNames().sort());
         const gp = db.adminCommand({getParameter: '*'});
         out('getParameter', () => [gp.ok, db.version().startsWith(gp.featureCompatibilityVersion.version + '.'), Array.isArray(gp.authenticationMechanisms)]);
         out('logComponents', () => typeof db.getLogComponents().verbosity);
         out('profilingStatus', () => db.getProfilingStatus());
         out('setProfilingLevel0', () => db.setProfilingLevel(0).was);
         out('setProfilingLevel2', () => db.setProfilingLevel(2));
         out('rs.status', () => rs.status());
         out('rs.conf', () => rs.conf());
         out('features', () => typeof db.adminCommand({features: 1}).oidMachine);
         out('freeMonitoring', () => db.adminCommand({getFreeMonitoringStatus: 1}).state);
         out('logout', () => db.logout().ok);
         out('users', () => db.getUsers());
         out('roles', () => db.getRoles());
         out('dataSize', () => db.h.dataSize() > 0);
         out('dataSizeCmd', () => { const r = db.runCommand({dataSize: db.getName() + '.h', keyPattern: {_id: 1}, min: {_id: 2}, max: {_id: 4}}); return [r.numObjects, r.size > 0]; });
      `);
      assert.equal(r.code, 0, `mongosh failed: ${r.stderr}\n${r.stdout}`);
      const got = {};
      for (const line of r.stdout.trim().split('\n')) {
         const i = line.indexOf('=');
         got[line.slice(0, i).trim()] = line.slice(i + 1);
      }
      const json = (k) => {
         assert.ok(k in got, `${k} printed: ${r.stdout}`);
         assert.ok(!got[k].startsWith('ERROR'), `${k}: ${got[k]}`);
         return JSON.parse(got[k]);
      };
      const failed = (k, code) => {
         assert.ok(k in got, `${k} printed: ${r.stdout}`);
         assert.match(got[k], new RegExp(`^ERROR ${code} `), `${k}: ${got[k]}`);
         return got[k];
      };
      assert.equal(json('dbs'), true);
      assert.equal(json('showdbs'), true);
      assert.deepEqual(json('collections'), ['h']);
      assert.equal(json('use'), 'admin');
      assert.deepEqual(json('stats'), [helpersDb, 1, 3, 1, true]);
      assert.deepEqual(json('stats1024'), [1024, true, true]);
      assert.deepEqual(json('collstats'), [`${helpersDb}.h`, 3, 1, false, ['_id_']]);
      assert.equal(json('countDocuments'), 3);
      assert.equal(json('createIndex'), 'a_1');
      assert.equal(json('createUnique'), 'b_1_c_-1');
      assert.deepEqual(json('getIndexes'), ['_id_', 'a_1', 'b_1_c_-1']);
      assert.deepEqual(json('hideIndex'), { hidden_old: false, hidden_new: true, ok: 1 });
      assert.deepEqual(json('hidden'), ['b_1_c_-1']);
      assert.deepEqual(json('unhideIndex'), { hidden_old: true, hidden_new: false, ok: 1 });
      assert.deepEqual(json('collModTTL'), { expireAfterSeconds_old: 3600, expireAfterSeconds_new: 60, ok: 1 });
      assert.equal(json('ttl'), 60);
      assert.match(failed('collModMissing', 27), /IndexNotFound/);
      assert.deepEqual(json('collModValidator'), [1, 121]);
      assert.deepEqual(json('collModNoop'), { ok: 1 });
      assert.equal(json('dropIndex'), 3);
      assert.equal(json('explain'), true);
      assert.deepEqual(json('serverStatus'), ['number', 'number', 'number', true]);
      assert.equal(json('version'), true);
      assert.deepEqual(json('hostInfo'), ['string', 'string']);
      assert.deepEqual(json('currentOpCmd'), [1, 1, 'command', true]);
      assert.deepEqual(json('killOp'), { info: 'attempting to kill op', ok: 1 });
      assert.deepEqual(json('validate'), [true, 3, 2, 3, []]);
      assert.match(failed('validateMissing', 26), /NamespaceNotFound/);
      assert.deepEqual(json('createCollection'), { ok: 1 });
      assert.match(failed('createCappedNoSize', 72), /'size' field is required/);
      assert.deepEqual(json('infos'), [['capped1', 'collection', { capped: true, size: 65536, max: 100 }]]);
      assert.deepEqual(json('infosNameOnly'), ['capped1', 'h']);
      assert.equal(json('isCapped'), true);
      assert.deepEqual(json('rename'), { ok: 1 });
      assert.deepEqual(json('afterRename'), ['capped3', 'h']);
      assert.deepEqual(json('getParameter'), [1, true, true]);
      assert.equal(json('logComponents'), 'number');
      assert.deepEqual(json('profilingStatus'), { was: 0, slowms: 100, sampleRate: 1, ok: 1 });
      assert.equal(json('setProfilingLevel0'), 0);
      assert.match(failed('setProfilingLevel2', 115), /profil/);
      assert.match(failed('rs.status', 76), /NoReplicationEnabled/);
      assert.match(failed('rs.conf', 76), /NoReplicationEnabled/);
      assert.equal(json('features'), 'number');
      assert.equal(json('freeMonitoring'), 'disabled');
      assert.equal(json('logout'), 1);
      assert.deepEqual(json('users'), { users: [], ok: 1 });
      assert.deepEqual(json('roles'), { roles: [], ok: 1 });
      assert.equal(json('dataSize'), true);
      assert.deepEqual(json('dataSizeCmd'), [2, true]);
   });

   // mongosh's db.currentOp() reads the $currentOp aggregation stage.
   test('db.currentOp() lists the calling operation', async () => {
      const r = await mongosh(uri(), `
         const ops = db.currentOp();
         print('ok=' + ops.ok + ' mine=' + ops.inprog.some(o => o.active && o.op === 'command'));
      `);
      assert.equal(r.code, 0, `mongosh failed: ${r.stderr}\n${r.stdout}`);
      assert.equal(r.stdout.trim().split('\n').pop().trim(), 'ok=1 mine=true');
   });

   // db.createView sends create with viewOn and pipeline; show collections lists the view.
   test('db.createView, reading a view and show collections', async () => {
      const r = await mongosh(uri(), `
         db.vsrc.insertMany([{_id: 1, n: 5}, {_id: 2, n: 50}, {_id: 3, n: 500}]);
         const made = db.createView('vbig', 'vsrc', [{$match: {n: {$gte: 50}}}, {$project: {n: 1}}]);
         print('created=' + made.ok);
         print('docs=' + JSON.stringify(db.vbig.find({}, {_id: 1}).sort({_id: -1}).toArray()));
         print('count=' + db.vbig.countDocuments({}));
         const info = db.getCollectionInfos({name: 'vbig'})[0];
         print('type=' + info.type + ' on=' + info.options.viewOn + ' ro=' + info.info.readOnly);
         try { db.vbig.insertOne({_id: 9}); print('insert=ok'); } catch (e) { print('insert=' + e.code); }
      `);
      assert.equal(r.code, 0, `mongosh failed: ${r.stderr}\n${r.stdout}`);
      const lines = r.stdout.trim().split('\n').map((l) => l.trim());
      assert.deepEqual(lines.slice(-5), [
         'created=1',
         'docs=[{"_id":3},{"_id":2}]',
         'count=2',
         'type=view on=vsrc ro=true',
         'insert=166',
      ]);
      const shown = await mongosh(uri(), 'show collections');
      assert.equal(shown.code, 0, `mongosh failed: ${shown.stderr}\n${shown.stdout}`);
      const names = shown.stdout.trim().split('\n').map((l) => l.trim());
      // mongosh marks a view: "vbig    [view]".
      assert.ok(names.some((n) => /^vbig\s+\[view\]$/.test(n)) && names.includes('vsrc'), shown.stdout);
   });

   test('a wrong port makes mongosh fail (negative control)', async () => {
      const r = await mongosh('mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=500', 'print(1)', { timeout: 60000 });
      assert.notEqual(r.code, 0);
   });
});
