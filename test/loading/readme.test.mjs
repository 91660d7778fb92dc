// The README's Quick start is what a new user pastes first: its JavaScript
// runs as written, with procmeter as installed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers/child.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

function quickStartBlocks() {
  const section = readme.split(/^## Quick start$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'the README has a "## Quick start" section');
  return [...section.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
}

test('every JavaScript block of the README Quick start runs as written', () => {
  const blocks = quickStartBlocks();
  assert.ok(blocks.length >= 2, `found ${blocks.length} js blocks`);
  for (const [index, source] of blocks.entries()) {
    // -e resolves 'procmeter' from the working directory: the package itself.
    const result = runNode(source, { cwd: root });
    assert.equal(result.status, 0, `block ${index + 1} failed:\n${source}\n${result.stderr}`);
    assert.equal(result.stderr, '', `block ${index + 1} wrote to stderr`);
  }
});
