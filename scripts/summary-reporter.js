// A reporter for node's test runner (`--test-reporter=<this file>`): one JSON line per
// test outcome that the end-of-run summary needs (scripts/test-summary.js formats them).
// It runs beside the `spec` reporter, which still prints everything as usual.

/**
 * @param {AsyncIterable<{ type: string, data: any }>} source
 * @returns {AsyncGenerator<string>}
 */
export default async function* summaryReporter(source) {
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    const suite = data.details?.type === 'suite';
    const base = { name: data.name, file: data.file ?? null, nesting: data.nesting, suite };
    if (type === 'test:fail') {
      // A parent (test or suite) that fails because a subtest failed is not one more failure.
      if (data.details?.error?.failureType === 'subtestsFailed') continue;
      yield `${JSON.stringify({ ...base, kind: 'fail', reason: String(data.details?.error?.cause?.message ?? data.details?.error?.message ?? '') })}\n`;
    } else if (data.skip !== undefined && data.skip !== false) {
      yield `${JSON.stringify({ ...base, kind: 'skip', reason: typeof data.skip === 'string' ? data.skip : '' })}\n`;
    } else if (data.todo !== undefined && data.todo !== false) {
      yield `${JSON.stringify({ ...base, kind: 'todo', reason: typeof data.todo === 'string' ? data.todo : '' })}\n`;
    } else if (!suite) {
      yield `${JSON.stringify({ ...base, kind: 'pass' })}\n`;
    }
  }
}
