// Starts and stops a real ferretd for the node tests and the unified spec runner.
//
// Contract (shared with the Python harness in tests/integration/harness/):
//   FERRETD            path of the ferretd binary
//   FERRET_PLUGIN_DIR  colon-separated plugin directories
//   FERRET_BACKEND     sqlite (default) | postgres | path of a backend .so
//   FERRET_PG_CONNINFO libpq conninfo of a running PostgreSQL cluster; without
//                      it the postgres backend starts a throwaway cluster with
//                      tests/support/pg_cluster.sh (stopped at process exit)
//   FERRET_WORKERS     worker threads of the server (default 2)
// A config is written in a fresh temporary directory (for postgres, a fresh
// database is created in the cluster), ferretd listens on a free loopback
// port, the harness waits until `ping` answers, and stop() sends SIGTERM and
// throws when the server crashed, exited non-zero or its stderr holds a
// sanitizer or abort report.
//
// FERRET_URI, when set, skips all of this and points the tests at an already
// running server (useful to check a test against a real MongoDB).

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

function defaultFerretd() {
   for (const dir of ['build', 'builddir']) {
      const p = path.join(repoRoot, dir, 'core', 'ferretd');
      if (fs.existsSync(p)) {
         return p;
      }
   }
   return null;
}

function defaultPluginDir(ferretd) {
   // In a build tree the plugins sit at <build>/plugins/<name>/<name>.so.
   const build = path.resolve(path.dirname(ferretd), '..');
   return ['sqlite', 'postgres']
      .map((b) => path.join(build, 'plugins', b))
      .filter((d) => fs.existsSync(d))
      .join(':');
}

export function freePort() {
   return new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
         const { port } = srv.address();
         srv.close(() => resolve(port));
      });
   });
}

// A report from any sanitizer or a glibc abort in the server's stderr fails the run.
const SANITIZER_RE = new RegExp('ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)' +
   '|runtime error:|UndefinedBehaviorSanitizer|WARNING: ThreadSanitizer' +
   '|malloc\\(\\): |free\\(\\): |double free|stack smashing detected|Assertion .* failed');

export function backendName() {
   const b = process.env.FERRET_BACKEND || 'sqlite';
   return b.endsWith('.so') ? path.basename(b).slice(0, -3) : b;
}

function psqlPath() {
   const r = spawnSync('sh', ['-c', 'command -v psql || ls -d /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1'],
      { encoding: 'utf8' });
   const p = (r.stdout || '').trim().split('\n').pop();
   if (!p) {
      throw new Error('postgres backend: psql not found');
   }
   return p;
}

function pgExec(conninfo, sql) {
   const r = spawnSync(psqlPath(), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', sql],
      { encoding: 'utf8', timeout: 60000 });
   if (r.status !== 0) {
      throw new Error(`psql ${sql} failed: ${r.stderr || r.error}`);
   }
}

function withDbName(conninfo, db) {
   if (/^postgres(ql)?:\/\//.test(conninfo)) {
      const u = new URL(conninfo);
      u.pathname = '/' + db;
      return u.toString();
   }
   // In a key=value string a later key overrides an earlier one.
   return `${conninfo} dbname=${db}`.trim();
}

// The PostgreSQL cluster of this process: FERRET_PG_CONNINFO or one we start.
let pgCluster = null;
function pgBaseConninfo() {
   if (process.env.FERRET_PG_CONNINFO) {
      return process.env.FERRET_PG_CONNINFO;
   }
   if (pgCluster) {
      return pgCluster.conninfo;
   }
   const script = path.join(repoRoot, 'tests', 'support', 'pg_cluster.sh');
   const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferret-pg-'));
   fs.chmodSync(dir, 0o777);
   const r = spawnSync('bash', [script, 'start', dir], { encoding: 'utf8', timeout: 120000 });
   if (r.status !== 0) {
      throw new Error(`pg_cluster.sh start failed (${r.status}): ${(r.stderr || '').slice(-2000)}`);
   }
   const lines = r.stdout.trim().split('\n').filter((l) => l.trim());
   pgCluster = { dir, conninfo: lines[lines.length - 1].trim() };
   process.on('exit', () => {
      spawnSync('bash', [script, 'stop', dir], { timeout: 120000 });
      fs.rmSync(dir, { recursive: true, force: true });
   });
   return pgCluster.conninfo;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class FerretServer {
   constructor() {
      this.proc = null;
      this.tmpdir = null;
      this.port = null;
      this.host = '127.0.0.1';
      this.stderr = '';
      this.exit = null; // {code, signal} once exited
      this.external = false;
   }

   get uri() {
      if (this.external) {
         return process.env.FERRET_URI;
      }
      return `mongodb://${this.host}:${this.port}/`;
   }

   stderrTail(n = 40) {
      return this.stderr.split('\n').slice(-n).join('\n');
   }

   writeConfig(port) {
      const backend = process.env.FERRET_BACKEND || 'sqlite';
      const lines = [
         '# written by tests/integration/node/harness.mjs',
         `listen = ${this.host}:${port}`,
         `backend = ${backend}`,
         `workers = ${process.env.FERRET_WORKERS || 2}`,
         // configureFailPoint, which drivers' specification tests use.
         'enable_test_commands = true',
      ];
      if (this.pluginDir) {
         lines.push(`plugin_dir = ${this.pluginDir}`);
      }
      const dataDir = path.join(this.tmpdir, 'data');
      fs.mkdirSync(dataDir, { recursive: true });
      lines.push('', '[sqlite]', `data_dir = ${dataDir}`);
      if (this.pgConninfo) {
         lines.push('', '[postgres]', `conninfo = ${this.pgConninfo}`);
      }
      const file = path.join(this.tmpdir, 'ferretd.conf');
      fs.writeFileSync(file, lines.join('\n') + '\n');
      return file;
   }

   async start({ timeoutMs = 30000 } = {}) {
      if (process.env.FERRET_URI) {
         this.external = true;
         await this.waitForPing(timeoutMs);
         return this;
      }
      this.ferretd = process.env.FERRETD || defaultFerretd();
      if (!this.ferretd || !fs.existsSync(this.ferretd)) {
         throw new Error(`ferretd not found (set FERRETD); tried ${this.ferretd}`);
      }
      this.pluginDir = process.env.FERRET_PLUGIN_DIR || defaultPluginDir(this.ferretd);
      this.tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferret-node-'));
      if (backendName() === 'postgres') {
         this.pgBase = pgBaseConninfo();
         this.pgDb = `ferret_node_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
         pgExec(this.pgBase, `CREATE DATABASE ${this.pgDb}`);
         this.pgConninfo = withDbName(this.pgBase, this.pgDb);
      }

      // The free port can be taken between probing and binding: retry.
      let lastErr = null;
      for (let attempt = 0; attempt < 3; attempt++) {
         this.port = await freePort();
         const conf = this.writeConfig(this.port);
         this.stderr = '';
         this.exit = null;
         this.proc = spawn(this.ferretd, ['--config', conf], {
            stdio: ['ignore', 'inherit', 'pipe'],
         });
         this.proc.stderr.setEncoding('utf8');
         this.proc.stderr.on('data', (d) => {
            this.stderr += d;
            if (this.stderr.length > 1 << 20) {
               this.stderr = this.stderr.slice(-(1 << 19));
            }
            if (process.env.FERRET_SERVER_LOG) {
               process.stderr.write(d);
            }
         });
         this.exited = new Promise((resolve) => {
            this.proc.on('exit', (code, signal) => {
               this.exit = { code, signal };
               resolve(this.exit);
            });
         });
         try {
            await this.waitForPing(timeoutMs);
            return this;
         } catch (e) {
            lastErr = e;
            if (!this.exit) {
               this.proc.kill('SIGKILL');
               await this.exited;
            }
            if (!/address already in use|EADDRINUSE|bind/i.test(this.stderr)) {
               break;
            }
         }
      }
      throw new Error(`ferretd did not start: ${lastErr && lastErr.message}\n--- ferretd stderr ---\n${this.stderrTail()}`);
   }

   async waitForPing(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let lastErr = null;
      while (Date.now() < deadline) {
         if (this.exit) {
            throw new Error(`ferretd exited early (code ${this.exit.code}, signal ${this.exit.signal})`);
         }
         const client = new MongoClient(this.uri, {
            serverSelectionTimeoutMS: 1000,
            connectTimeoutMS: 1000,
            directConnection: true,
         });
         try {
            await client.connect();
            const r = await client.db('admin').command({ ping: 1 });
            if (r.ok === 1) {
               return;
            }
         } catch (e) {
            lastErr = e;
         } finally {
            await client.close().catch(() => {});
         }
         await sleep(100);
      }
      throw new Error(`no ping answer within ${timeoutMs} ms: ${lastErr && lastErr.message}`);
   }

   // Checks the server is still running (a crash mid-test must fail the test).
   assertAlive() {
      if (this.exit) {
         throw new Error(`ferretd died (code ${this.exit.code}, signal ${this.exit.signal})\n${this.stderrTail()}`);
      }
   }

   async stop({ timeoutMs = 15000 } = {}) {
      if (this.external || !this.proc) {
         return;
      }
      let killed = false;
      if (!this.exit) {
         this.proc.kill('SIGTERM');
         const timer = setTimeout(() => {
            killed = true;
            this.proc.kill('SIGKILL');
         }, timeoutMs);
         await this.exited;
         clearTimeout(timer);
      }
      const { code, signal } = this.exit;
      const keep = process.env.FERRET_KEEP_TMP;
      if (!keep && this.tmpdir) {
         fs.rmSync(this.tmpdir, { recursive: true, force: true });
      }
      if (this.pgDb) {
         try {
            pgExec(this.pgBase, `DROP DATABASE IF EXISTS ${this.pgDb} WITH (FORCE)`);
         } catch (e) {
            process.stderr.write(`warning: could not drop ${this.pgDb}: ${e.message}\n`);
         }
         this.pgDb = null;
      }
      const m = SANITIZER_RE.exec(this.stderr);
      if (m) {
         throw new Error(`sanitizer or abort report in ferretd stderr:\n${this.stderr.slice(Math.max(0, m.index - 2000), m.index + 6000)}`);
      }
      if (killed) {
         throw new Error(`ferretd did not stop within ${timeoutMs} ms of SIGTERM\n${this.stderrTail()}`);
      }
      if (code !== 0) {
         throw new Error(`ferretd exited with code ${code}, signal ${signal}\n--- ferretd stderr ---\n${this.stderrTail()}`);
      }
   }
}

export async function startServer(opts = {}) {
   const s = new FerretServer();
   await s.start(opts);
   return s;
}

// A client with the options every test wants; the caller closes it.
export function newClient(server, opts = {}) {
   return new MongoClient(server.uri, {
      directConnection: true,
      serverSelectionTimeoutMS: 10000,
      ...opts,
   });
}

// A database name no other test uses, so tests stay independent even when a
// backend (postgres) keeps data across server restarts.
export function uniqueDbName(prefix = 'nodetest') {
   return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
}
