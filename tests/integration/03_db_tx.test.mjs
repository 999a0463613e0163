// shared/db's transactions against the stack's real PostgreSQL: the C
// checker tests/db/db_tx_check.c commits, fails a transaction after an
// error, a backend killed between two statements (pg_terminate_backend), a
// silent reconnect in the middle and a stray COMMIT, and reads a snapshot
// while another connection writes. Every case must pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { env } from '../lib/stack.mjs';

test('a transaction never goes on after an error, a kill or a reconnect; a snapshot sees one moment', async () => {
  const bin = path.join(env.buildDir, 'tests', 'db', 'db_tx_check');
  const out = await new Promise((resolve) => {
    execFile(bin, [], { env: { ...process.env, QW_DB_URL: env.dbUrl }, timeout: 60000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
  const summary = out.stdout.match(/^(\d+) passed, (\d+) failed$/m);
  assert.ok(summary, `no summary line:\n${out.stdout}\n${out.stderr}`);
  assert.equal(Number(summary[2]), 0, out.stdout);
  assert.equal(Number(summary[1]), 8, out.stdout);
  assert.equal(out.code, 0, out.stdout + out.stderr);
});
