/**
 * Judges a SQL token sequence: how far it stays valid SQL when read as the continuation of a
 * `WHERE` expression, and which query structure it adds on the way (boolean conditions,
 * `UNION SELECT`, stacked statements, clauses, comments that cut the query). The detector
 * turns these findings into rules, and the scores are in sqli.ts.
 *
 * The reader is an expression state machine: it expects either an operand or an operator and
 * stops at the first token that cannot follow. Prose fails within a few tokens (a word after a
 * word, a string after a number), while a payload has to stay valid to work. Parentheses may
 * be unbalanced, because the query around the value supplies the missing ones.
 */

import type { SqlToken } from './sql-tokenizer.js';

export interface SqlFindings {
  /** The sequence parsed to its end, or to a comment that swallows the rest of the query. */
  valid: boolean;
  /** Tokens read before the first invalid one (comments excluded). */
  validTokens: number;
  /** The value started with an operator, so it extends an operand the query already has. */
  leadingOperator: boolean;
  logicOperators: number;
  /** A comparison of two equal constants or identifiers (`1=1`, `'a'='a'`, `x=x`), or `like '%'`. */
  tautology: boolean;
  /** `tautology` found after a logical operator. */
  tautologyAfterLogic: boolean;
  /** A comparison between two literals (`1=0`, `'a'='b'`) after a logical operator. */
  constantComparisonAfterLogic: boolean;
  /** An equality-style comparison (`=`, `<>`, `LIKE`, `IS`, `IN`) after a logical operator. */
  equalityAfterLogic: boolean;
  /** Any comparison after a logical operator. */
  comparisonAfterLogic: boolean;
  /** A logical operator followed by a lone literal such as `or true` or `or 1`. */
  literalAfterLogic: boolean;
  /** An operator symbol after a logical operator, as in `or ''-''`. */
  operatorAfterLogic: boolean;
  /** Function calls completed in the valid part. */
  functionCalls: number;
  /** A function call that follows an operator or a logical operator. */
  functionAfterOperator: boolean;
  /** A call of a function that makes the database wait (`sleep`, `benchmark`, `pg_sleep`). */
  timeDelay: boolean;
  /** Such a call with a number as its first argument, as in `sleep(5)`. */
  timeDelayCall: boolean;
  /** `UNION [ALL|DISTINCT] SELECT` in a valid position. */
  unionSelect: boolean;
  /** `;` followed by the keyword that starts another statement. */
  stackedStatement: boolean;
  /** `;` that ends the statement, followed by nothing or a comment. */
  statementEnd: boolean;
  /** A clause keyword after an operand: `order by`, `group by`, `having`, `limit`, `into`, `procedure`. */
  clause: string | null;
  /** The clause is followed by a number, a function, or `having`, as in `order by 1`. */
  clauseWithArgument: boolean;
  /** A `(select ...)` subquery in operand position. */
  subquery: boolean;
  /** A subquery after an operator, as in `and 1=(select ...)`. */
  subqueryAfterOperator: boolean;
  /** A line comment, or an unterminated block comment, right after a complete expression. */
  endComment: boolean;
  /** Such a comment that is not a flag-like `--word` (see SqlToken.flag). */
  plainEndComment: boolean;
  /** Block comments between tokens, which SQL reads as whitespace. */
  inlineComments: number;
  /** Binary operators (comparisons, arithmetic, concatenation) in the valid part. */
  binaryOperators: number;
  /** Comparison operators among them. */
  comparisons: number;
  /**
   * The reading reached the last token, at the end of the sequence or inside an unclosed
   * call, subquery or `case`. More tokens could change the findings.
   */
  ranOut: boolean;
  /** Any `@@` server variable referenced in the valid part. */
  serverVariable: boolean;
}

const LOGIC_WORDS = new Set(['and', 'or', 'xor']);
const LOGIC_SYMBOLS = new Set(['&&', '||']);
const COMPARISON_SYMBOLS = new Set([
  '=',
  '==',
  '<',
  '>',
  '<=',
  '>=',
  '<>',
  '!=',
  '<=>',
  '!<',
  '!>',
]);
const EQUALITY_SYMBOLS = new Set(['=', '==', '<>', '!=', '<=>']);
const COMPARISON_WORDS = new Set([
  'like',
  'rlike',
  'regexp',
  'is',
  'in',
  'glob',
  'ilike',
  'between',
]);
const ARITHMETIC_WORDS = new Set(['div', 'mod', 'collate']);
const UNARY_SYMBOLS = new Set(['-', '+', '~', '!']);
const UNARY_WORDS = new Set(['not', 'binary', 'exists', 'interval', 'prior', 'distinct']);
const LITERAL_WORDS = new Set([
  'null',
  'true',
  'false',
  'unknown',
  'default',
  'current_user',
  'current_date',
  'current_time',
  'current_timestamp',
  'session_user',
  'system_user',
  'localtime',
  'localtimestamp',
]);
const TIME_DELAY_FUNCTIONS = new Set([
  'sleep',
  'benchmark',
  'pg_sleep',
  'dbms_lock.sleep',
  'dbms_pipe.receive_message',
  // SQLite has no sleep, so attackers make it build a huge blob instead.
  'randomblob',
]);

/** Keywords that start a statement. After `;` they begin a second query. */
export const STATEMENT_WORDS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'drop',
  'create',
  'alter',
  'truncate',
  'exec',
  'execute',
  'declare',
  'waitfor',
  'shutdown',
  'grant',
  'revoke',
  'set',
  'call',
  'load',
  'copy',
  'backup',
  'bulk',
  'begin',
  'replace',
  'rename',
  'handler',
  'kill',
  'lock',
  'merge',
  'show',
  'use',
  'if',
  'union',
]);

/** Words that SQL reserves, so they cannot stand alone as an operand. */
const RESERVED_WORDS = new Set([
  ...STATEMENT_WORDS,
  ...LOGIC_WORDS,
  ...COMPARISON_WORDS,
  'from',
  'where',
  'order',
  'group',
  'having',
  'limit',
  'offset',
  'into',
  'values',
  'as',
  'on',
  'join',
  'then',
  'else',
  'end',
  'when',
  'case',
  'by',
  'procedure',
  'table',
  'for',
  'union',
  'intersect',
  'except',
]);

/** Words that may follow a complete operand and start a clause of the query. */
const CLAUSE_WORDS = new Set([
  'union',
  'intersect',
  'except',
  'order',
  'group',
  'having',
  'limit',
  'offset',
  'procedure',
  'into',
  'waitfor',
  'where',
  'as',
]);

/** Bound on the words skipped inside a `(select ...)` or `case ... end`. */
const MAX_SKIP = 512;

function newFindings(): SqlFindings {
  return {
    valid: false,
    validTokens: 0,
    leadingOperator: false,
    logicOperators: 0,
    tautology: false,
    tautologyAfterLogic: false,
    constantComparisonAfterLogic: false,
    equalityAfterLogic: false,
    comparisonAfterLogic: false,
    literalAfterLogic: false,
    operatorAfterLogic: false,
    functionCalls: 0,
    functionAfterOperator: false,
    timeDelay: false,
    timeDelayCall: false,
    unionSelect: false,
    stackedStatement: false,
    statementEnd: false,
    clause: null,
    clauseWithArgument: false,
    subquery: false,
    subqueryAfterOperator: false,
    endComment: false,
    plainEndComment: false,
    inlineComments: 0,
    binaryOperators: 0,
    comparisons: 0,
    serverVariable: false,
    ranOut: false,
  };
}

function isAtom(token: SqlToken | undefined): boolean {
  if (token === undefined) return false;
  if (token.kind === 'word')
    return !RESERVED_WORDS.has(token.text) || LITERAL_WORDS.has(token.text);
  return (
    token.kind === 'string' ||
    token.kind === 'number' ||
    token.kind === 'identifier' ||
    token.kind === 'variable'
  );
}

function isLiteral(token: SqlToken): boolean {
  return (
    token.kind === 'string' ||
    token.kind === 'number' ||
    (token.kind === 'word' && LITERAL_WORDS.has(token.text))
  );
}

function isComparison(token: SqlToken | undefined): boolean {
  if (token === undefined) return false;
  if (token.kind === 'operator') return COMPARISON_SYMBOLS.has(token.text);
  return token.kind === 'word' && COMPARISON_WORDS.has(token.text);
}

function literalValue(token: SqlToken): string {
  if (token.kind === 'number') {
    const value = Number(token.text);
    return Number.isFinite(value) ? String(value) : token.text;
  }
  return token.kind === 'string' ? token.text : token.text.toLowerCase();
}

/** Nearest token before `index` that is not a parenthesis, or undefined. */
function previousSkippingParens(tokens: SqlToken[], index: number): number {
  let cursor = index - 1;
  while (cursor >= 0 && (tokens[cursor]?.kind === 'lparen' || tokens[cursor]?.kind === 'rparen')) {
    cursor--;
  }
  return cursor;
}

function nextSkippingParens(tokens: SqlToken[], index: number): number {
  let cursor = index + 1;
  while (
    cursor < tokens.length &&
    (tokens[cursor]?.kind === 'lparen' || tokens[cursor]?.kind === 'rparen')
  ) {
    cursor++;
  }
  return cursor;
}

/**
 * Records a comparison that the atom at `index` completes, such as `1=1` or `('x')=('x`.
 * A comparison counts only when nothing arithmetic joins its sides to more terms, so that
 * `1=1+x` is not mistaken for a tautology.
 */
function noteComparison(
  tokens: SqlToken[],
  index: number,
  findings: SqlFindings,
  afterLogic: boolean,
): void {
  const right = tokens[index] as SqlToken;
  const operatorIndex = previousSkippingParens(tokens, index);
  const operator = tokens[operatorIndex];
  if (!isComparison(operator) || operator === undefined) return;

  if (operator.text === 'like' && right.kind === 'string' && /^%+$/.test(right.text)) {
    // `like '%'` is true for any non-null left side.
    findings.tautology = true;
    if (afterLogic) findings.tautologyAfterLogic = true;
  }
  const leftIndex = previousSkippingParens(tokens, operatorIndex);
  const left = tokens[leftIndex];
  if (left === undefined || !isAtom(left)) return;

  const before = tokens[previousSkippingParens(tokens, leftIndex)];
  const after = tokens[nextSkippingParens(tokens, index)];
  const joinsMore = (token: SqlToken | undefined): boolean =>
    token !== undefined &&
    token.kind === 'operator' &&
    !COMPARISON_SYMBOLS.has(token.text) &&
    !LOGIC_SYMBOLS.has(token.text);
  if (joinsMore(before) || joinsMore(after) || isComparison(before)) return;

  const bothLiteral = isLiteral(left) && isLiteral(right);
  const same = literalValue(left) === literalValue(right) && left.kind === right.kind;
  const equality = EQUALITY_SYMBOLS.has(operator.text) || COMPARISON_WORDS.has(operator.text);
  const negated = operator.text === '<>' || operator.text === '!=';
  const numericLiteral = left.kind === 'number' || right.kind === 'number';
  const tautology =
    (same && !negated && operator.text !== '<' && operator.text !== '>') ||
    (bothLiteral && negated && !same) ||
    // MySQL compares a string with a number as numbers, so '1'=1 is true as well.
    (bothLiteral &&
      numericLiteral &&
      operator.text === '=' &&
      Number(left.text) === Number(right.text));

  if (tautology) {
    findings.tautology = true;
    if (afterLogic) findings.tautologyAfterLogic = true;
  }
  if (afterLogic) {
    findings.comparisonAfterLogic = true;
    if (equality) findings.equalityAfterLogic = true;
    if (bothLiteral) findings.constantComparisonAfterLogic = true;
  }
}

/** Index after the parenthesis that closes the one opened before `start`, or the end. */
function skipParenthesized(tokens: SqlToken[], start: number): number {
  let depth = 1;
  let index = start;
  const limit = Math.min(tokens.length, start + MAX_SKIP);
  while (index < limit) {
    const kind = tokens[index]?.kind;
    if (kind === 'lparen') depth++;
    if (kind === 'rparen') {
      depth--;
      if (depth === 0) return index + 1;
    }
    index++;
  }
  return limit;
}

/** Index after the `end` that closes a `case` at `start - 1`, or -1 when there is none. */
function skipCase(tokens: SqlToken[], start: number): number {
  let depth = 1;
  const limit = Math.min(tokens.length, start + MAX_SKIP);
  for (let index = start; index < limit; index++) {
    const token = tokens[index] as SqlToken;
    if (token.kind !== 'word') continue;
    if (token.text === 'case') depth++;
    if (token.text === 'end') {
      depth--;
      if (depth === 0) return index + 1;
    }
  }
  return -1;
}

/**
 * Reads `tokens` as a SQL expression, or as the continuation of one when the first token is an
 * operator (the query then contains the operand before the input). In a quote context the first
 * token is the literal that the input closed.
 */
export function judgeSql(tokens: readonly SqlToken[]): SqlFindings {
  const findings = newFindings();
  const code: SqlToken[] = [];
  for (const token of tokens) {
    if (token.kind === 'comment' && token.inline === true) findings.inlineComments++;
    else code.push(token);
  }

  let expectOperand = true;
  let atStart = true;
  let afterLogic = false;
  let afterBinary = false;
  let pendingBetween = false;
  let index = 0;

  const finish = (valid: boolean): SqlFindings => {
    findings.valid = valid;
    findings.validTokens = index;
    return findings;
  };

  while (index < code.length) {
    const token = code[index] as SqlToken;
    const next = code[index + 1];

    if (token.kind === 'comment') {
      if (expectOperand && !atStart) return finish(false);
      if (!atStart) {
        findings.endComment = true;
        if (token.flag !== true) findings.plainEndComment = true;
      }
      index++;
      continue;
    }

    // An input may begin with an operator, continuing a value that the query already contains.
    if (atStart) {
      atStart = false;
      const startsWithOperator =
        (token.kind === 'operator' && !UNARY_SYMBOLS.has(token.text)) ||
        token.kind === 'rparen' ||
        token.kind === 'semicolon' ||
        token.kind === 'comma' ||
        (token.kind === 'word' &&
          (LOGIC_WORDS.has(token.text) ||
            COMPARISON_WORDS.has(token.text) ||
            CLAUSE_WORDS.has(token.text)));
      if (startsWithOperator) {
        expectOperand = false;
        findings.leadingOperator = true;
      }
    }

    if (expectOperand) {
      const consumed = readOperand(code, index, findings, { afterLogic, afterBinary });
      if (consumed === 0) return finish(false);
      index += consumed;
      const last = code[index - 1] as SqlToken;
      if (last.kind !== 'lparen' && !(last.kind === 'operator' && UNARY_SYMBOLS.has(last.text))) {
        if (last.kind !== 'word' || !UNARY_WORDS.has(last.text)) {
          expectOperand = false;
          if (isAtom(last)) noteComparison(code, index - 1, findings, afterLogic);
          const following = code[index];
          // MySQL reads a string in a condition as a number, so `or 'abc'` is false while
          // `or '1'`, like `or 1` and `or true`, is true.
          const lone =
            afterLogic &&
            isLiteral(last) &&
            (last.kind !== 'string' || /^\s*[1-9]/.test(last.text)) &&
            consumed === 1 &&
            !isComparison(code[index - 2]) &&
            (following === undefined ||
              following.kind === 'comment' ||
              following.kind === 'rparen' ||
              following.kind === 'semicolon' ||
              following.kind === 'string' ||
              (following.kind === 'word' && LOGIC_WORDS.has(following.text)) ||
              (following.kind === 'operator' && LOGIC_SYMBOLS.has(following.text)));
          if (lone) findings.literalAfterLogic = true;
        }
      }
      continue;
    }

    // An operand is complete: an operator, a closing parenthesis or a clause may follow.
    if (token.kind === 'rparen') {
      // A `)` without its `(` closes a parenthesis of the query around the value.
      index++;
      continue;
    }
    if (token.kind === 'comma') {
      expectOperand = true;
      afterBinary = false;
      index++;
      continue;
    }
    if (token.kind === 'semicolon') {
      const following = code[index + 1];
      if (following === undefined || following.kind === 'comment') {
        findings.statementEnd = true;
        index++;
        continue;
      }
      if (following.kind === 'word' && STATEMENT_WORDS.has(following.text)) {
        findings.stackedStatement = true;
        index += 2;
        return finish(true);
      }
      return finish(false);
    }
    if (token.kind === 'operator') {
      if (LOGIC_SYMBOLS.has(token.text)) {
        findings.logicOperators++;
        afterLogic = true;
        afterBinary = false;
      } else {
        findings.binaryOperators++;
        if (afterLogic) findings.operatorAfterLogic = true;
        if (COMPARISON_SYMBOLS.has(token.text)) findings.comparisons++;
        afterBinary = true;
      }
      expectOperand = true;
      index++;
      continue;
    }
    if (token.kind === 'string' && code[index - 1]?.kind === 'string') {
      // Adjacent literals concatenate in MySQL: 'a' 'b' is 'ab'.
      index++;
      continue;
    }
    if (token.kind !== 'word') return finish(false);

    const word = token.text;
    if (LOGIC_WORDS.has(word)) {
      if (word === 'and' && pendingBetween) {
        pendingBetween = false;
      } else {
        findings.logicOperators++;
        afterLogic = true;
      }
      afterBinary = false;
      expectOperand = true;
      index++;
      continue;
    }
    if (word === 'not' && next?.kind === 'word' && COMPARISON_WORDS.has(next.text)) {
      index++;
      continue;
    }
    if (COMPARISON_WORDS.has(word) || ARITHMETIC_WORDS.has(word) || word === 'sounds') {
      if (word === 'between') pendingBetween = true;
      if (word === 'sounds' && next?.text === 'like') index++;
      findings.binaryOperators++;
      if (!ARITHMETIC_WORDS.has(word)) findings.comparisons++;
      afterBinary = true;
      expectOperand = true;
      index++;
      continue;
    }
    const clauseEnd = readClause(code, index, findings);
    if (clauseEnd === -1) {
      // SQL Server runs a second statement in the same batch even without a `;`.
      if (STATEMENT_WORDS.has(word) && isStatement(code.slice(index, index + 8))) {
        findings.stackedStatement = true;
        return finish(true);
      }
      return finish(false);
    }
    if (findings.unionSelect || findings.timeDelay) {
      index = clauseEnd;
      return finish(true);
    }
    index = clauseEnd;
    // An operator follows an alias or `waitfor delay '...'`, and an operand follows a clause keyword.
    expectOperand = word !== 'as' && word !== 'waitfor';
    afterBinary = false;
  }

  findings.ranOut = true;
  return finish(!expectOperand || atStart);
}

interface OperandPosition {
  readonly afterLogic: boolean;
  readonly afterBinary: boolean;
}

/**
 * Reads one step of an operand at `index`: an atom, a function name with its `(`, a unary
 * prefix, an opening parenthesis, a `(select ...)` subquery or a `case ... end`. Returns the
 * tokens consumed, or 0 when no operand can start here.
 */
function readOperand(
  code: SqlToken[],
  index: number,
  findings: SqlFindings,
  position: OperandPosition,
): number {
  const token = code[index] as SqlToken;
  const next = code[index + 1];

  if (token.kind === 'lparen') {
    if (next?.kind === 'word' && next.text === 'select') {
      findings.subquery = true;
      if (position.afterLogic || position.afterBinary) findings.subqueryAfterOperator = true;
      const end = skipParenthesized(code, index + 1);
      if (end === code.length && code[end - 1]?.kind !== 'rparen') findings.ranOut = true;
      noteInside(code, index + 2, end, findings);
      // The subquery reads as one atom, whose `)` the query may supply.
      return end - index;
    }
    return 1;
  }
  if (token.kind === 'operator') return UNARY_SYMBOLS.has(token.text) ? 1 : 0;
  if (token.kind === 'variable') {
    if (token.text.startsWith('@@')) findings.serverVariable = true;
    return 1;
  }
  if (token.kind !== 'word') {
    return token.kind === 'string' || token.kind === 'number' || token.kind === 'identifier'
      ? 1
      : 0;
  }

  const word = token.text;
  // `like(...)` and `glob(...)` are functions in SQLite, so only logical words are excluded.
  if (next?.kind === 'lparen' && !LOGIC_WORDS.has(word)) {
    return readCall(code, index, findings, position);
  }
  if (UNARY_WORDS.has(word)) return 1;
  if (word === 'case') {
    const end = skipCase(code, index + 1);
    if (end === -1) {
      findings.ranOut ||= code.length - index <= MAX_SKIP;
      return 0;
    }
    return end - index;
  }
  if (RESERVED_WORDS.has(word) && !LITERAL_WORDS.has(word)) return 0;
  return 1;
}

/**
 * Reads a function call whose name is at `index` as one atom, up to its closing parenthesis.
 * The arguments are only scanned for time-delay calls, server variables and subqueries. A
 * call without its `)` is not valid.
 */
function readCall(
  code: SqlToken[],
  index: number,
  findings: SqlFindings,
  position: OperandPosition,
): number {
  const name = (code[index] as SqlToken).text;
  const end = skipParenthesized(code, index + 2);
  const closed = code[end - 1]?.kind === 'rparen';
  if (!closed) {
    if (end === code.length) findings.ranOut = true;
    return 0;
  }

  findings.functionCalls++;
  if (position.afterLogic || position.afterBinary) findings.functionAfterOperator = true;
  if (TIME_DELAY_FUNCTIONS.has(name)) {
    findings.timeDelay = true;
    const argument = code[index + 2];
    const after = code[index + 3];
    if (argument?.kind === 'number' && (after?.kind === 'rparen' || after?.kind === 'comma')) {
      findings.timeDelayCall = true;
    }
  }
  noteInside(code, index + 2, end, findings);
  return end - index;
}

/** Scans the tokens of a call's arguments or a subquery for delays, variables and selects. */
function noteInside(code: SqlToken[], start: number, end: number, findings: SqlFindings): void {
  for (let cursor = start; cursor < end; cursor++) {
    const inner = code[cursor] as SqlToken;
    if (inner.kind === 'variable' && inner.text.startsWith('@@')) findings.serverVariable = true;
    if (inner.kind !== 'word') continue;
    if (TIME_DELAY_FUNCTIONS.has(inner.text) && code[cursor + 1]?.kind === 'lparen')
      findings.timeDelay = true;
    if (inner.text === 'select' && code[cursor - 1]?.kind === 'lparen') {
      findings.subquery = true;
      findings.subqueryAfterOperator = true;
    }
  }
}

/**
 * Reads a clause keyword after a complete operand. Returns the index after what was read,
 * or -1 when the word cannot follow an operand.
 */
function readClause(code: SqlToken[], index: number, findings: SqlFindings): number {
  const word = (code[index] as SqlToken).text;
  const next = code[index + 1];

  if (word === 'union' || word === 'intersect' || word === 'except') {
    let cursor = index + 1;
    if (
      code[cursor]?.kind === 'word' &&
      (code[cursor]?.text === 'all' || code[cursor]?.text === 'distinct')
    ) {
      cursor++;
    }
    while (code[cursor]?.kind === 'lparen') cursor++;
    if (code[cursor]?.kind === 'word' && code[cursor]?.text === 'select') {
      findings.unionSelect = true;
      return cursor + 1;
    }
    return -1;
  }

  if (word === 'order' || word === 'group') {
    if (next?.kind !== 'word' || next.text !== 'by') return -1;
    findings.clause = `${word} by`;
    noteClauseArgument(code, index + 2, findings);
    return index + 2;
  }

  if (word === 'having' || word === 'limit' || word === 'offset' || word === 'procedure') {
    findings.clause ??= word;
    if (word === 'having' || word === 'procedure') findings.clauseWithArgument = true;
    else noteClauseArgument(code, index + 1, findings);
    return index + 1;
  }

  if (word === 'as') {
    // An alias: `as x` continues the operand before it.
    return next?.kind === 'word' || next?.kind === 'identifier' ? index + 2 : -1;
  }

  if (word === 'where') {
    // Only an appended value can add a WHERE: at its start, or after an alias it gave.
    if (index !== 0 && code[index - 2]?.text !== 'as') return -1;
    findings.clause ??= 'where';
    return index + 1;
  }

  if (word === 'into') {
    if (next?.kind === 'word' && (next.text === 'outfile' || next.text === 'dumpfile')) {
      findings.clause = `into ${next.text}`;
      findings.clauseWithArgument = true;
      return index + 2;
    }
    if (next?.kind === 'variable') {
      findings.clause = 'into';
      findings.clauseWithArgument = true;
      return index + 1;
    }
    return -1;
  }

  if (word === 'waitfor') {
    // SQL Server runs `waitfor delay '0:0:5'` even without a `;` before it.
    const kind = code[index + 2]?.kind;
    if (
      next?.kind === 'word' &&
      (next.text === 'delay' || next.text === 'time') &&
      (kind === 'string' || kind === 'variable')
    ) {
      findings.clause = 'waitfor';
      findings.timeDelay = true;
      return index + 3;
    }
    return -1;
  }

  return -1;
}

function noteClauseArgument(code: SqlToken[], index: number, findings: SqlFindings): void {
  const argument = code[index];
  if (argument === undefined) return;
  if (argument.kind === 'number' || argument.kind === 'variable')
    findings.clauseWithArgument = true;
  if (argument.kind === 'word' && code[index + 1]?.kind === 'lparen')
    findings.clauseWithArgument = true;
}

function word(token: SqlToken | undefined, ...texts: string[]): boolean {
  return token?.kind === 'word' && texts.includes(token.text);
}

function isName(token: SqlToken | undefined): boolean {
  return token?.kind === 'word' || token?.kind === 'identifier';
}

/** Checks whether a statement may stop here: at `;`, a comment or the end of the input. */
function ends(token: SqlToken | undefined): boolean {
  return token === undefined || token.kind === 'semicolon' || token.kind === 'comment';
}

/**
 * Checks whether the whole value is a SQL statement of a shape that prose does not take, for
 * the places where a query is built from a user's string: `select @@version`, `select * from t`,
 * `exec master..xp_cmdshell '...'`, `drop table t;`, `insert into t values (...)`.
 * A statement keyword followed by ordinary words ("select your plan") is not one.
 */
export function isStatement(all: readonly SqlToken[]): boolean {
  const tokens = all.filter((token) => token.kind !== 'comment' || token.inline !== true);
  const [first, second, third, fourth] = tokens;
  if (first?.kind !== 'word' || !STATEMENT_WORDS.has(first.text)) return false;

  switch (first.text) {
    case 'select':
      return (
        second?.kind === 'variable' ||
        (second?.kind === 'operator' &&
          second.text === '*' &&
          word(third, 'from') &&
          isName(fourth) &&
          (ends(tokens[4]) ||
            word(tokens[4], 'where', 'limit', 'order', 'group', 'union', 'join'))) ||
        (isName(second) && third?.kind === 'lparen') ||
        (isName(second) && ends(third) && third !== undefined) ||
        (isName(second) &&
          word(third, 'from') &&
          isName(fourth) &&
          tokens[4] !== undefined &&
          ends(tokens[4]))
      );
    case 'exec':
    case 'execute':
      return isName(second) && /^(?:xp_|sp_|master\.)/.test(second?.text ?? '');
    case 'waitfor':
      return word(second, 'delay', 'time') && third?.kind === 'string';
    case 'drop':
    case 'truncate':
      return (
        word(second, 'table', 'database', 'user', 'procedure', 'function', 'view') &&
        isName(third) &&
        ends(fourth)
      );
    case 'create':
      return (
        (word(second, 'table') && isName(third) && fourth?.kind === 'lparen') ||
        (word(second, 'user', 'login') &&
          isName(third) &&
          word(fourth, 'identified', 'with', 'password'))
      );
    case 'insert':
      return (
        word(second, 'into') &&
        isName(third) &&
        (fourth?.kind === 'lparen' || word(fourth, 'values', 'select'))
      );
    case 'delete':
      return (
        word(second, 'from') &&
        isName(third) &&
        (word(fourth, 'where') || (ends(fourth) && fourth !== undefined))
      );
    case 'update':
      return isName(second) && word(third, 'set') && isName(fourth) && tokens[4]?.text === '=';
    case 'declare':
      return second?.kind === 'variable';
    case 'load':
      return word(second, 'data') && (word(third, 'infile') || word(fourth, 'infile'));
    case 'copy':
      return isName(second) && word(third, 'from', 'to') && fourth !== undefined;
    case 'backup':
      return word(second, 'database', 'log') && isName(third) && word(fourth, 'to');
    case 'bulk':
      return word(second, 'insert') && isName(third) && word(fourth, 'from');
    case 'grant':
    case 'revoke':
      return isName(second) && (word(third, 'to', 'on', 'from') || third?.kind === 'comma');
    case 'shutdown':
      return second !== undefined && (ends(second) || word(second, 'with'));
    case 'union':
      return word(second, 'select') || (word(second, 'all') && word(third, 'select'));
    default:
      return false;
  }
}
