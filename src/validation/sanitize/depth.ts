/**
 * An estimate of the element nesting depth of an HTML string, in one linear scan and without
 * parsing, to reject inputs whose parse would be slow before jsdom parses them.
 *
 * The estimate errs high: it counts every `<name` as an opening tag, even inside attribute
 * values and comments, unless it names a void element. A self-closing slash is ignored, as
 * the HTML parser ignores it outside SVG and MathML. It follows the parser's
 * implied end tags only for elements that close a previous sibling of the same name
 * (`<p>`, `<li>`, `<td>` and the like), so that lists and paragraphs without end tags are
 * not counted as nesting.
 */

const VOID_ELEMENTS = new Set([
  'area',
  'base',
  'br',
  'col',
  'embed',
  'hr',
  'img',
  'input',
  'link',
  'meta',
  'source',
  'track',
  'wbr',
]);

/** Elements whose start tag closes an open element of the same name. */
const SELF_SIBLING = new Set([
  'p',
  'li',
  'dt',
  'dd',
  'tr',
  'td',
  'th',
  'option',
  'optgroup',
  'rt',
  'rp',
]);

// The end of a tag is not looked for, since an attribute value may hide a `>` or `<`.
const TAG_START = /<(\/?)([a-zA-Z][^\s/>]*)/g;

/**
 * Returns the estimated maximum depth of elements in `html`, or a number above `limit` as
 * soon as the estimate passes it.
 */
export function nestingDepth(html: string, limit = Number.MAX_SAFE_INTEGER): number {
  const open: string[] = [];
  let max = 0;
  for (const match of html.matchAll(TAG_START)) {
    const closing = match[1] === '/';
    const name = match[2]!.toLowerCase();
    if (closing) {
      const index = open.lastIndexOf(name);
      if (index !== -1) open.length = index;
      continue;
    }
    if (VOID_ELEMENTS.has(name)) continue;
    if (SELF_SIBLING.has(name) && open[open.length - 1] === name) open.pop();
    open.push(name);
    if (open.length > max) max = open.length;
    if (max > limit) return max;
  }
  return max;
}
