/**
 * `cohort member` reads standard input line by line, and one line must never stop the
 * lines after it nor the end of input. Goal: a line over messageBytesMax (counted in
 * UTF-8 bytes, not in characters) gets one clear error on standard error naming the
 * line and the limit, is not sent, and the next lines are multicast in order; end of
 * input still leaves and exits 0; standard output holds events only. Method: one real
 * member process fed the whole input at once, as from a file; every wait is for its
 * exit, bounded in time; the process is killed by PID and its files removed whatever
 * happens.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultCoreConfig } from '../src/core/config.js';
import { MemberProc, killAll, tempDir } from './procs.js';
import { removeTempDir } from './temp.js';

test('cohort member: a line over messageBytesMax is reported on stderr and skipped; the lines after it are sent and end of input exits 0', { timeout: 30_000 }, async () => {
  const max = defaultCoreConfig.messageBytesMax;
  // Line 4 has fewer characters than the limit but more UTF-8 bytes ("€" is 3 bytes):
  // the limit is on bytes.
  const euros = Math.floor(max / 3) + 1;
  const input = ['first', 'x'.repeat(max + 1), 'third', '€'.repeat(euros), 'fifth'];
  const dir = tempDir('cohort-member-input-');
  let m: MemberProc | undefined;
  try {
    m = new MemberProc('a', 0, [], dir);
    // Should the member die before reading everything, the write fails with EPIPE:
    // the assertions below report that, not an unhandled stream error.
    m.proc.stdin!.on('error', () => undefined);
    m.proc.stdin!.write(input.map((l) => `${l}\n`).join(''));
    const code = await m.end(10_000);
    const stderr = m.stderr.join('');
    assert.equal(code, 0, `exit code; stderr:\n${stderr.slice(-2000)}`);
    assert.deepEqual(
      m.lines.filter((l) => l.event === 'message').map((l) => l.data),
      ['first', 'third', 'fifth'],
    );
    assert.match(stderr, new RegExp(`line 2 is ${max + 1} bytes, over messageBytesMax \\(${max} bytes\\): not sent`));
    assert.match(stderr, new RegExp(`line 4 is ${3 * euros} bytes, over messageBytesMax \\(${max} bytes\\): not sent`));
    // Standard output is events only (each line already parsed as JSON to get here).
    assert.ok(m.lines.every((l) => typeof l.event === 'string'), JSON.stringify(m.lines.slice(0, 5)));
  } finally {
    if (m !== undefined) killAll([m]);
    removeTempDir(dir);
  }
});
