import { main } from './main.js';

const argv = process.argv.slice(2);
main(argv, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  // main reports its own errors; this is for a bug in it, in the same shape.
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (argv.includes('--json'))
      process.stderr.write(`${JSON.stringify({ code: 'ERROR', message, node: null, exit: 1 })}\n`);
    else process.stderr.write(`erldist: ${message}\n`);
    process.exitCode = 1;
  },
);
