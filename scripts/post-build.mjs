// Steps tsc does not do. The audit log's checkpoint worker is plain JavaScript, so it is
// copied. The CLI is made executable because `npx bulwark` runs dist/cli/main.js directly
// and tsc writes a new file without the execute bit.
import { chmodSync, copyFileSync } from 'node:fs';

copyFileSync('src/audit/wal-checkpoint-worker.mjs', 'dist/audit/wal-checkpoint-worker.mjs');
chmodSync('dist/cli/main.js', 0o755);
