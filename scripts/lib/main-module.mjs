// Whether a script was run directly (node scripts/x.mjs) rather than
// imported: import.meta.url is the real path, while process.argv[1] may go
// through a symlink (a linked checkout), which a plain comparison would take
// for "imported" and then silently do nothing.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function isMainModule(importMetaUrl) {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(importMetaUrl);
  } catch {
    return false;
  }
}
