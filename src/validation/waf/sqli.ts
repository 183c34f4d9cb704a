/**
 * SQL injection detector. The value is read as SQL in each place a careless query could put
 * it: as a bare value (`WHERE id = <value>`), inside a single-quoted or double-quoted literal,
 * and inside a backtick-quoted identifier. In a quoted place the value matters only when it
 * closes the quote, and what follows is then SQL code. The judge (sql-judge.ts) reports which query
 * structure the code adds, and the rules below weigh it. No rule looks for a keyword alone:
 * "select your plan" and "union station" are prose because they do not parse as SQL that
 * continues a query.
 *
 * Unbalanced parentheses are accepted, so `') or ('a'='a` is read the same as `' or 'a'='a`,
 * which covers values placed inside the query's own parentheses.
 */

import { SCORE } from './rule-table.js';
import { isStatement, judgeSql, type SqlFindings } from './sql-judge.js';
import { tokenizeSql, type SqlTokens } from './sql-tokenizer.js';
import type { DetectContext, Paranoia, RuleHit } from './types.js';

/** Maximum length inspected. A longer value is read up to it, with a note rule of score 0. */
export const MAX_SQL_INPUT = 64 * 1024;

type Place = 'value' | 'quoted';

interface SqliRule {
  readonly id: string;
  readonly level: Paranoia;
  readonly score: number;
  readonly test: (findings: SqlFindings, place: Place) => boolean;
}

/** Checks whether the code after a closed quote, or the bare value, adds a boolean condition. */
function addsCondition(f: SqlFindings, place: Place): boolean {
  if (!f.valid || f.logicOperators === 0) return false;
  if (f.functionAfterOperator || f.subqueryAfterOperator) return true;
  if (place === 'quoted') {
    return f.comparisonAfterLogic || f.literalAfterLogic || f.operatorAfterLogic;
  }
  // A bare value needs a constant equality (`and 1=0`) or a literal cut off by a comment
  // (`or true--`), because prose like "5 > 3 and 2 < 4" is also a valid expression. A value
  // that starts with the operator (` or x=y`, ` and true`) can only extend a condition.
  return (
    (f.equalityAfterLogic && f.constantComparisonAfterLogic) ||
    (f.literalAfterLogic && f.endComment) ||
    (f.leadingOperator && (f.literalAfterLogic || f.equalityAfterLogic))
  );
}

const RULES: readonly SqliRule[] = [
  { id: 'sqli-001-union-select', level: 1, score: SCORE.critical, test: (f) => f.unionSelect },
  {
    id: 'sqli-002-stacked-statement',
    level: 1,
    score: SCORE.critical,
    test: (f) => f.stackedStatement,
  },
  {
    id: 'sqli-003-time-delay',
    level: 1,
    score: SCORE.critical,
    test: (f, place) =>
      f.timeDelay &&
      (place === 'quoted' ||
        f.leadingOperator ||
        f.logicOperators > 0 ||
        f.subquery ||
        (f.valid && (f.timeDelayCall || f.endComment || f.statementEnd || f.binaryOperators > 0))),
  },
  { id: 'sqli-004-tautology', level: 1, score: SCORE.critical, test: (f) => f.tautologyAfterLogic },
  { id: 'sqli-005-boolean-condition', level: 1, score: SCORE.critical, test: addsCondition },
  {
    id: 'sqli-006-comment-truncation',
    level: 1,
    score: SCORE.critical,
    // `--json` after a closing backtick is how Markdown writes a flag in a code span, so a
    // flag-like `--word` comment counts from paranoia 2 on (sqli-027).
    test: (f, place) => place === 'quoted' && f.valid && f.plainEndComment,
  },
  {
    id: 'sqli-007-clause-injection',
    level: 1,
    score: SCORE.critical,
    test: (f, place) =>
      f.clause !== null &&
      (place === 'quoted'
        ? f.clauseWithArgument || f.endComment
        : f.clauseWithArgument && (f.endComment || f.leadingOperator)),
  },
  {
    id: 'sqli-008-function-injection',
    level: 1,
    score: SCORE.critical,
    test: (f, place) =>
      f.valid && f.functionAfterOperator && (place === 'quoted' || f.leadingOperator),
  },
  {
    id: 'sqli-009-quoted-tautology',
    level: 1,
    score: SCORE.critical,
    test: (f, place) => place === 'quoted' && f.valid && f.tautology,
  },
  {
    id: 'sqli-010-subquery',
    level: 1,
    score: SCORE.critical,
    test: (f, place) =>
      f.subqueryAfterOperator &&
      (place === 'quoted' || f.leadingOperator || f.logicOperators > 0 || f.valid),
  },
  {
    id: 'sqli-012-appended-tautology',
    level: 1,
    score: SCORE.critical,
    test: (f, place) => place === 'value' && f.valid && f.leadingOperator && f.tautology,
  },
  {
    id: 'sqli-020-lone-tautology',
    level: 2,
    score: SCORE.error,
    test: (f) => f.valid && f.tautology,
  },
  {
    id: 'sqli-021-comment-after-expression',
    level: 2,
    score: SCORE.warning,
    test: (f) => f.valid && f.endComment && (f.binaryOperators > 0 || f.leadingOperator),
  },
  {
    id: 'sqli-022-quoted-expression',
    level: 2,
    score: SCORE.error,
    test: (f, place) =>
      place === 'quoted' &&
      f.valid &&
      (f.binaryOperators > 0 || f.logicOperators > 0 || f.statementEnd || f.clause !== null),
  },
  { id: 'sqli-023-delay-function', level: 2, score: SCORE.error, test: (f) => f.timeDelay },
  {
    id: 'sqli-024-equality-condition',
    level: 2,
    score: SCORE.warning,
    test: (f) => f.valid && f.equalityAfterLogic,
  },
  {
    id: 'sqli-027-flag-comment-truncation',
    level: 2,
    score: SCORE.critical,
    test: (f, place) => place === 'quoted' && f.valid && f.endComment && !f.plainEndComment,
  },
  { id: 'sqli-025-server-variable', level: 2, score: SCORE.warning, test: (f) => f.serverVariable },
  {
    id: 'sqli-030-logic-expression',
    level: 3,
    score: SCORE.warning,
    test: (f) => f.valid && f.comparisonAfterLogic,
  },
  {
    id: 'sqli-031-clause',
    level: 3,
    score: SCORE.warning,
    test: (f) => f.valid && f.clause !== null,
  },
  {
    id: 'sqli-040-quote-breakout',
    level: 4,
    score: SCORE.notice,
    test: (f, place) => place === 'quoted' && f.validTokens >= 2,
  },
];

/**
 * Structure changes that a field reaching a SQL sink must never carry. A bare value in such a
 * field may still hold arithmetic such as a date (`2024-01-02`), so only conditions, clauses,
 * comments and statements count there.
 */
function changesStructure(f: SqlFindings, place: Place): boolean {
  if (place === 'quoted') return f.validTokens >= 2;
  return (
    f.logicOperators > 0 ||
    f.endComment ||
    f.statementEnd ||
    f.stackedStatement ||
    f.unionSelect ||
    f.clause !== null ||
    f.subquery ||
    f.tautology ||
    (f.valid && f.comparisons > 0)
  );
}

/** Server variables, functions and catalogs that reconnaissance queries read. */
const SERVER_NAME =
  /^(?:@@|pg_|sys|master\.|information_schema|mysql\.|current_|session_user|user$|version|database|schema)/;

/** Checks whether a `select` statement reads the server rather than application tables. */
function readsServer(tokens: SqlTokens['tokens']): boolean {
  let statements = 0;
  for (const token of tokens) {
    if (token.kind === 'variable' || token.kind === 'lparen') return true;
    if ((token.kind === 'word' || token.kind === 'identifier') && SERVER_NAME.test(token.text)) {
      return true;
    }
    // A second statement after the first, as in `select 1;copy t to '/tmp/x'`.
    if (token.kind === 'semicolon') statements++;
    else if (statements > 0) return true;
  }
  return false;
}

/** Checks whether a backtick-quoted identifier is a phrase: words and spaces, no markup. */
function isPhrase(identifier: string): boolean {
  return /\s/.test(identifier) && /^[\p{L}\p{N}\s.,:;!?'()*_-]*$/u.test(identifier);
}

/**
 * Tokens read before the judge first looks. Prose stops being SQL within a few tokens, so
 * most values are judged on this prefix and never tokenized in full.
 */
const FIRST_PASS_TOKENS = 48;

/**
 * Judges `text` in one quoting context, starting from the first-pass tokens. When the judge
 * runs out of them before deciding, the whole text is tokenized and judged again.
 */
function readSql(text: string, opener: '' | "'" | '"' | '`', first: SqlTokens): SqlFindings {
  const findings = judgeSql(first.tokens);
  if (!first.truncated || !findings.ranOut) return findings;
  return judgeSql(tokenizeSql(text, opener).tokens);
}

/** Detects SQL injection in one decoded value. */
export function detectSqli(input: string, context: DetectContext): RuleHit[] {
  const found = new Map<string, number>();
  const add = (ruleId: string, score: number): void => {
    if ((found.get(ruleId) ?? -1) < score) found.set(ruleId, score);
  };

  let text = input;
  if (text.length > MAX_SQL_INPUT) {
    text = text.slice(0, MAX_SQL_INPUT);
    add('sqli-099-inspected-prefix', 0);
  }

  const level = context.strict ? 4 : context.paranoia;
  const judge = (findings: SqlFindings, place: Place): void => {
    for (const rule of RULES) {
      if (rule.level <= level && rule.test(findings, place)) add(rule.id, rule.score);
    }
    if (context.strict && changesStructure(findings, place)) {
      add('sqli-050-sink-structure-change', SCORE.critical);
    }
  };

  const bare = tokenizeSql(text, '', FIRST_PASS_TOKENS);
  judge(readSql(text, '', bare), 'value');
  if (isStatement(bare.tokens)) {
    // A lone query of application data, such as "select * from users;" quoted in a support
    // ticket, is how people write about SQL, so it counts from paranoia 2 on. Queries of the
    // server itself (versions, users, settings, catalogs) stay at paranoia 1.
    if (bare.tokens[0]?.text !== 'select' || readsServer(bare.tokens)) {
      add('sqli-011-statement', SCORE.critical);
    } else if (level >= 2) add('sqli-028-select-statement', SCORE.critical);
  }
  if (level >= 2 && text.includes('/*!')) add('sqli-026-executable-comment', SCORE.error);

  for (const quote of ["'", '"', '`'] as const) {
    if (!text.includes(quote)) continue;
    const quoted = tokenizeSql(text, quote, FIRST_PASS_TOKENS);
    // A value that never closes the literal stays data.
    if (quoted.tokens[0]?.open !== false) continue;
    // A query runs only when the identifier before the backtick names a column or table, and
    // names are not phrases, while "after `DELETE FROM t`" in prose closes a phrase.
    if (quote === '`' && level < 2 && isPhrase(quoted.tokens[0].text)) continue;
    judge(readSql(text, quote, quoted), 'quoted');
  }
  // An application that converts text to a legacy code page before building the query may
  // map typographic single quotes to `'` (Windows best-fit mapping does), so `’ or ‘1’=’1`
  // closes a literal there.
  if (/[\u2018\u2019\u02bc]/.test(text)) {
    const mapped = text.replace(/[\u2018\u2019\u02bc]/g, "'");
    const quoted = tokenizeSql(mapped, "'", FIRST_PASS_TOKENS);
    if (quoted.tokens[0]?.open === false) judge(readSql(mapped, "'", quoted), 'quoted');
  }

  return [...found].map(([ruleId, score]) => ({ ruleId, family: 'sqli', score }));
}
