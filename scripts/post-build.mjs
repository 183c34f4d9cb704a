// Steps tsc does not do: copy the audit log's checkpoint worker, which is plain JavaScript,
// and make the CLI executable, since `npx bulwark` runs dist/cli/main.js directly and tsc
// writes a new file without the execute bit.
import { chmodSync, copyFileSync } from 'node:fs';

copyFileSync('src/audit/wal-checkpoint-worker.mjs', 'dist/audit/wal-checkpoint-worker.mjs');
chmodSync('dist/cli/main.js', 0o755);
