/**
 * webmail/html.ts: HTML mail made safe to show, on the server, before any browser sees it.
 *
 * Pass 1, the sanitiser (sanitize-html, allow-lists): no scripts, no event handlers, no forms,
 * frames, objects, embeds, svg, math, meta, base or link elements; links only http:, https: and
 * mailto: (a `javascript:`, `data:` or relative href is dropped) and each opens apart
 * (`target=_blank rel="noopener noreferrer"`); images only from data:image/…, cid: and
 * http(s):, every other source dropped; `<style>` blocks and `style` attributes kept (the
 * frame's CSP allows inline styles only).
 * Pass 2, remote content (`remote` false): `<img src=http(s)…>` loses its source (its alt text
 * stays), CSS `url(…)` naming anything but a cid: part or a data:image/ is replaced by `none`,
 * a quoted remote URL in CSS (`image-set("https://…")`) by `""`, and `@import` is removed (always:
 * the frame's CSP would refuse a remote stylesheet anyway). `cid:` references (images and CSS)
 * become `/mail/message/cid?f=…&uid=…&cid=…`. `blocked` says whether anything remote was
 * removed (the message page then offers `button#show-remote`).
 * The page around it (`htmlDocument`) carries no script; `htmlCsp(remote)` is its
 * Content-Security-Policy: nothing but images (this server's and data:, plus http(s) with
 * `remote`) and inline styles, and `sandbox` without allow-scripts or allow-forms. The sandbox
 * keeps `allow-same-origin` (with no script it grants nothing to the mail) so the frame's image
 * requests carry the session cookie (SameSite=Lax is not sent from an opaque origin, and cid:
 * images would not load), and `allow-popups` with `-to-escape-sandbox` so a link opens in a tab.
 *
 * Exports: `sanitizeMailHtml`, `htmlDocument`, `htmlCsp`, `SanitizeResult`. Throws nothing.
 */
import sanitizeHtml from 'sanitize-html';

export interface SanitizeResult {
  html: string;
  /** Remote content (images, CSS urls) was removed. */
  blocked: boolean;
}

export interface SanitizeOptions {
  /** Keep remote images and CSS urls (the reader asked). */
  remote: boolean;
  /** A cid: reference (without "cid:") → the URL serving that part. */
  cidUrl: (cid: string) => string;
}

const TAGS = [
  'a', 'abbr', 'address', 'article', 'aside', 'b', 'bdi', 'bdo', 'big', 'blockquote', 'br', 'caption', 'center', 'cite', 'code', 'col', 'colgroup',
  'dd', 'del', 'details', 'dfn', 'div', 'dl', 'dt', 'em', 'figcaption', 'figure', 'font', 'footer', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header',
  'hr', 'i', 'img', 'ins', 'kbd', 'li', 'main', 'mark', 'nav', 'ol', 'p', 'pre', 'q', 's', 'samp', 'section', 'small', 'span', 'strike', 'strong',
  'style', 'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'time', 'tr', 'tt', 'u', 'ul', 'var', 'wbr',
];
const COMMON_ATTRS = ['style', 'class', 'id', 'align', 'valign', 'width', 'height', 'bgcolor', 'color', 'border', 'dir', 'lang', 'title'];

const REMOTE = /^\s*(?:https?:)?\/\//i;
const HTTP = /^\s*https?:\/\//i;
const DATA_IMAGE = /^\s*data:image\/[a-z0-9.+-]+[;,]/i;
const CID = /^\s*cid:/i;

/** CSS with comments dropped and backslash escapes decoded, so `u\72l(` cannot hide a url(. */
function plainCss(css: string): string {
  let s = css.replace(/\/\*[\s\S]*?(?:\*\/|$)/g, ' ');
  if (s.includes('\\')) {
    // escapes that spell quotes, backslashes or line breaks stay escaped: strings keep their ends
    s = s.replace(/\\([0-9a-fA-F]{1,6})\s?|\\([^\n0-9a-fA-F])/g, (m, hex: string | undefined, ch: string | undefined) => {
      const c = hex === undefined ? (ch ?? '') : parseInt(hex, 16) === 0 || parseInt(hex, 16) > 0x10ffff ? '\uFFFD' : String.fromCodePoint(parseInt(hex, 16));
      return /["'\\\n\r\f<]/.test(c) ? m : c;
    });
  }
  return s;
}

/** Pass 2 over CSS text (a `<style>` block or a `style` attribute). */
export function cssBlockRemote(css: string, o: SanitizeOptions, hit: () => void): string {
  let s = plainCss(css);
  s = s.replace(/@import\b[^;]*;?/gi, '');
  s = s.replace(/url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*?))\s*\)/gi, (_, a: string | undefined, b: string | undefined, c: string | undefined) => {
    const u = (a ?? b ?? c ?? '').trim();
    if (CID.test(u)) return `url("${cssString(o.cidUrl(u.replace(CID, '').trim()))}")`;
    if (DATA_IMAGE.test(u)) return `url("${cssString(u)}")`;
    if (HTTP.test(u) && o.remote) return `url("${cssString(u)}")`;
    if (REMOTE.test(u)) hit();
    return 'none';
  });
  // a remote URL in a plain string: image-set("https://…"), src: "…"
  s = s.replace(/"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'/g, (m, a: string | undefined, b: string | undefined) => {
    const u = a ?? b ?? '';
    if (!REMOTE.test(u) || (o.remote && HTTP.test(u))) return m;
    hit();
    return '""';
  });
  return s;
}

const cssString = (u: string): string => u.replace(/["\\\n\r]/g, (c) => `\\${c.charCodeAt(0).toString(16)} `);

/** Sanitise `html` (a message's text/html part, decoded) as the contract above says. */
export function sanitizeMailHtml(html: string, o: SanitizeOptions): SanitizeResult {
  let blocked = false;
  const hit = (): void => {
    blocked = true;
  };
  const out = sanitizeHtml(html, {
    allowedTags: TAGS,
    allowVulnerableTags: true, // <style>: its text is pass 2's; the frame runs no script
    allowedAttributes: {
      '*': COMMON_ATTRS,
      a: ['href', 'name', 'target', 'rel'],
      img: ['src', 'alt', 'width', 'height'],
      font: ['face', 'size', 'color'],
      td: ['colspan', 'rowspan', 'nowrap'],
      th: ['colspan', 'rowspan', 'nowrap', 'scope'],
      table: ['cellpadding', 'cellspacing', 'summary'],
      col: ['span'],
      colgroup: ['span'],
      ol: ['start', 'type', 'reversed'],
      li: ['value'],
    },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['data', 'http', 'https'] },
    allowedSchemesAppliedToAttributes: ['href', 'src', 'cite'],
    allowProtocolRelative: false,
    disallowedTagsMode: 'discard',
    nonTextTags: ['script', 'textarea', 'option', 'noscript', 'title', 'iframe', 'object', 'embed', 'svg', 'math', 'template', 'select', 'button', 'noembed', 'noframes', 'xmp', 'plaintext'],
    transformTags: {
      a: (tagName, attribs) => {
        const href = attribs.href ?? '';
        const a: Record<string, string> = { ...attribs };
        delete a.target;
        delete a.rel;
        if (/^\s*(?:https?|mailto):/i.test(href)) Object.assign(a, { target: '_blank', rel: 'noopener noreferrer' });
        else if (!/^\s*#[\w.:-]*$/.test(href)) delete a.href;
        return { tagName, attribs: a };
      },
      img: (tagName, attribs) => {
        const a: Record<string, string> = { ...attribs };
        const src = a.src ?? '';
        delete a.srcset;
        if (CID.test(src)) a.src = o.cidUrl(src.replace(CID, '').trim());
        else if (DATA_IMAGE.test(src)) a.src = src.trim();
        else if (HTTP.test(src) && o.remote) a.src = src.trim();
        else {
          if (REMOTE.test(src)) hit();
          delete a.src;
          if (a.alt === undefined) a.alt = '';
        }
        return { tagName, attribs: a };
      },
      '*': (tagName, attribs) => {
        if (attribs.style === undefined) return { tagName, attribs };
        return { tagName, attribs: { ...attribs, style: cssBlockRemote(attribs.style, o, hit) } };
      },
    },
  });
  // pass 2 over the <style> blocks (the sanitiser's output: a block is exactly `<style>…</style>`)
  const html2 = out.replace(/<style>([\s\S]*?)<\/style>/g, (_, css: string) => `<style>${cssBlockRemote(css, o, hit).replace(/</g, '\\3c ')}</style>`);
  return { html: html2, blocked };
}

/** The Content-Security-Policy of the frame's document (`/mail/message/html`). No script runs
 * (none is allowed and the frame is sandboxed without allow-scripts); images from this server
 * (cid: parts) and data:, and with `remote` any http(s) image; inline styles only. */
export function htmlCsp(remote: boolean): string {
  return [
    "default-src 'none'",
    `img-src 'self' data:${remote ? ' https: http:' : ''}`,
    "style-src 'unsafe-inline'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
    'sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox',
  ].join('; ');
}

/** The sanitised fragment as the frame's whole document. */
export function htmlDocument(fragment: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<style>body{margin:8px;font-family:system-ui,sans-serif;font-size:15px;line-height:1.45;color:#1a1a1a;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}pre{white-space:pre-wrap}table{max-width:100%}</style>
</head><body>${fragment}</body></html>`;
}
