/**
 * Sanitization profiles: which elements and attributes survive, and where links and images
 * may point. The built-in profiles cover plain text, basic formatting and rich text. The
 * configuration may add its own under `validation.sanitize.profiles`.
 */

/** One profile, as the sanitizer applies it. */
export interface SanitizeProfile {
  readonly tags: readonly string[];
  readonly attributes: readonly string[];
  /** Schemes allowed in `href`, without the colon. Relative URLs are always allowed. */
  readonly linkSchemes: readonly string[];
  /** `https` allows https URLs in `src`, `data-image` allows base64 PNG, GIF, JPEG and WebP. */
  readonly imageSources: readonly ('https' | 'data-image')[];
}

const BASIC_TAGS = ['b', 'i', 'em', 'strong', 'a', 'p', 'br', 'ul', 'ol', 'li', 'code'];

const RICH_TAGS = [
  ...BASIC_TAGS,
  ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'img', 'blockquote', 'pre', 'hr'],
  ...['table', 'caption', 'thead', 'tbody', 'tfoot', 'tr', 'th', 'td'],
];

export const builtinProfiles: Readonly<Record<'text' | 'basic' | 'rich', SanitizeProfile>> = {
  /** Every element is removed and its text kept, with `<`, `>` and `&` as entities. */
  text: { tags: [], attributes: [], linkSchemes: [], imageSources: [] },
  basic: {
    tags: BASIC_TAGS,
    attributes: ['href'],
    linkSchemes: ['http', 'https', 'mailto'],
    imageSources: [],
  },
  rich: {
    tags: RICH_TAGS,
    attributes: ['href', 'src', 'alt', 'title', 'width', 'height', 'colspan', 'rowspan'],
    linkSchemes: ['http', 'https', 'mailto'],
    imageSources: ['https', 'data-image'],
  },
};

export const BUILTIN_PROFILES: readonly string[] = Object.keys(builtinProfiles);
