/**
 * Principals: who a connection authenticated as, in Kafka's terms. A principal is a type and a
 * name (`User:alice`, Kafka's KafkaPrincipal). A TLS client is named by its certificate: the
 * subject's distinguished name exactly as Java prints it (X500Principal.getName(), RFC 2253), run
 * through Kafka's `ssl.principal.mapping.rules` (KIP-371). Both follow Kafka closely enough that
 * rules, ACLs and `super.users` written for a Kafka cluster name the same principals here.
 *
 * Pure: nothing here reads files or clocks; node:crypto only parses the certificate.
 */
import { X509Certificate } from 'node:crypto';

/** A principal, Kafka's KafkaPrincipal: its type (`User`) and its name (`alice`). */
export interface Principal {
  type: string;
  name: string;
}

/** A malformed principal, certificate or mapping rule, or a subject that no mapping rule names. */
export class PrincipalError extends Error {}

/** The principal of a connection that proved nothing (PLAINTEXT, or TLS without a client certificate), as Kafka names it. */
export const ANONYMOUS: Principal = Object.freeze({ type: 'User', name: 'ANONYMOUS' });

/** `User:alice`: the form of principals in ACLs, `super.users` and logs. */
export function principalString(p: Principal): string {
  return `${p.type}:${p.name}`;
}

/**
 * The principal `text` names, `Type:name` (Kafka's SecurityUtils.parseKafkaPrincipal): the type is
 * letters, the name is everything after the first colon and may hold colons itself
 * (`User:CN=a:b` is `{User, CN=a:b}`). Nothing is trimmed.
 */
export function parsePrincipal(text: string): Principal {
  const colon = text.indexOf(':');
  if (colon < 0 || colon === text.length - 1) throw new PrincipalError(`expected a principal as Type:name (like User:alice), got "${text}"`);
  const type = text.slice(0, colon);
  if (!/^[A-Za-z]+$/.test(type)) throw new PrincipalError(`the type of principal "${text}" must be letters (like User), got "${type}"`);
  return { type, name: text.slice(colon + 1) };
}

// ---------------------------------------------------------------------------------------------
// The subject of a certificate, as Java prints it.

/**
 * The attributes Java prints by keyword in RFC 2253 form (sun.security.x509.AVAKeyword, the
 * RFC 2253 compliant ones). Every other attribute (emailAddress, serialNumber, GN, SN, title, ...)
 * is printed as its OID with its DER value in hex.
 */
const RFC2253_KEYWORDS: ReadonlyMap<string, string> = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.9', 'STREET'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
  ['0.9.2342.19200300.100.1.1', 'UID'],
  ['0.9.2342.19200300.100.1.25', 'DC'],
]);

/** The DER string types Java prints as text (AVA.isDerString): UTF8, Printable, T61, IA5, General and BMP strings. */
const TEXT_TAGS: ReadonlySet<number> = new Set([0x0c, 0x13, 0x14, 0x16, 0x1b, 0x1e]);

/** What Java's RFC 2253 form escapes with a backslash anywhere in a value (AVA.toRFC2253String). */
const ESCAPED = ',=+<>#;"\\';

/**
 * The subject distinguished name of a certificate (DER, or PEM) as Java's
 * X500Principal.getName() prints it, which is the name Kafka's SSL principal builder maps:
 * RFC 2253 form, the most significant RDN last (`CN=alice,OU=eng,O=Cairn,C=DE` for a subject
 * written `/C=DE/O=Cairn/OU=eng/CN=alice`), the values of a multi-valued RDN joined by `+`.
 * As in Java: CN, C, L, ST, O, OU, STREET, DC and UID are printed by keyword and every other
 * attribute by OID with its DER value in hex (`1.2.840.113549.1.9.1=#16...` for emailAddress);
 * `,=+<>#;"\` are backslash-escaped anywhere in a value, and so are leading and trailing spaces;
 * a NUL is `\00`; other characters, control characters too, are printed as they are.
 *
 * Node's X509Certificate parses and validates the certificate, but the subject is read from its
 * DER here: Node's `subject` is OpenSSL's text, already escaped (differently from Java) and
 * without the string types that Java's hex form encodes.
 */
export function distinguishedName(raw: Buffer): string {
  let der: Buffer;
  try {
    der = new X509Certificate(raw).raw;
  } catch (err) {
    throw new PrincipalError(`not an X.509 certificate: ${(err as Error).message}`);
  }
  const certificate = readTlv(der, 0, der.length);
  const tbs = children(der, certificate)[0];
  if (tbs === undefined) throw new PrincipalError('certificate without a TBSCertificate');
  const fields = children(der, tbs);
  // version [0] (optional), serialNumber, signature, issuer, validity, subject
  const subject = fields[(fields[0]?.tag === 0xa0 ? 1 : 0) + 4];
  if (subject === undefined || subject.tag !== 0x30) throw new PrincipalError('certificate without a subject');
  return children(der, subject)
    .map((rdn) => children(der, rdn).map((ava) => formatAttribute(der, ava)))
    .reverse()
    .map((values) => values.join('+'))
    .join(',');
}

/** One DER element: its tag, where it starts, and where its contents start and end. */
interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** The DER element at `at`, which must end by `limit`. Tags are compared by their first byte, which is all a Name needs. */
function readTlv(der: Buffer, at: number, limit: number): Tlv {
  const truncated = () => new PrincipalError(`truncated DER element at byte ${at} of the certificate`);
  if (at >= limit) throw truncated();
  const tag = der[at]!;
  let i = at + 1;
  if ((tag & 0x1f) === 0x1f) {
    // A tag number above 30 goes on in the bytes that follow: never in a Name's structure, but an attribute value is ANY.
    while (i < limit && der[i]! & 0x80) i++;
    i++;
  }
  if (i >= limit) throw truncated();
  let length = der[i]!;
  let contentStart = i + 1;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || contentStart + bytes > limit) throw new PrincipalError(`bad DER length at byte ${at} of the certificate`);
    length = der.readUIntBE(contentStart, bytes);
    contentStart += bytes;
  }
  if (contentStart + length > limit) throw truncated();
  return { tag, start: at, contentStart, end: contentStart + length };
}

/** The elements inside a constructed element. */
function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** One AttributeTypeAndValue (a SEQUENCE of an OID and a value) as Java's AVA.toRFC2253String prints it. */
function formatAttribute(der: Buffer, ava: Tlv): string {
  const [type, value] = children(der, ava);
  if (type === undefined || type.tag !== 0x06 || value === undefined) throw new PrincipalError('malformed attribute in the certificate subject');
  const oid = decodeOid(der.subarray(type.contentStart, type.end));
  const keyword = RFC2253_KEYWORDS.get(oid);
  if (keyword === undefined || !TEXT_TAGS.has(value.tag)) return `${keyword ?? oid}=#${der.subarray(value.start, value.end).toString('hex')}`;
  return `${keyword}=${escapeValue(decodeString(value.tag, der.subarray(value.contentStart, value.end)))}`;
}

/**
 * A string value decoded by its type, as Java 21 and later decode it (AVA.getCharset): UTF8String
 * as UTF-8, BMPString as UTF-16BE, the 8-bit types as Latin-1. (Java 17 decoded every type as UTF-8,
 * so its names differ where a non-UTF8 string holds a byte above 0x7F, and for any BMPString.)
 */
function decodeString(tag: number, bytes: Buffer): string {
  if (tag === 0x0c) return bytes.toString('utf8');
  if (tag !== 0x1e) return bytes.toString('latin1');
  let s = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes.readUInt16BE(i));
  if (bytes.length % 2 === 1) s += '\ufffd';
  // Java's decoder replaces unpaired surrogates.
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function decodeOid(bytes: Buffer): string {
  const arcs: bigint[] = [];
  let arc = 0n;
  for (const b of bytes) {
    arc = (arc << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(arc);
      arc = 0n;
    }
  }
  const first = arcs.shift();
  if (first === undefined) throw new PrincipalError('empty OID in the certificate subject');
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs].join('.');
}

/** Java's RFC 2253 escaping of a value: `,=+<>#;"\` anywhere, NUL as `\00`, then every leading and trailing space or CR. */
function escapeValue(value: string): string {
  let escaped = '';
  for (const c of value) escaped += ESCAPED.includes(c) ? `\\${c}` : c === '\0' ? '\\00' : c;
  const blank = (c: string) => c === ' ' || c === '\r';
  let lead = 0;
  while (lead < escaped.length && blank(escaped[lead]!)) lead++;
  let trail = escaped.length - 1;
  while (trail >= lead && blank(escaped[trail]!)) trail--;
  let out = '';
  for (let i = 0; i < escaped.length; i++) out += i < lead || i > trail ? `\\${escaped[i]}` : escaped[i];
  return out;
}

// ---------------------------------------------------------------------------------------------
// ssl.principal.mapping.rules (KIP-371).

/** Kafka's default ssl.principal.mapping.rules: the principal name is the whole DN. */
export const DEFAULT_MAPPING_RULES = 'DEFAULT';

/** A piece of a rule's replacement: text, or the text of a capturing group (by number, or by name). */
type ReplacementPart = string | { group: number | string };

/** One parsed rule of ssl.principal.mapping.rules: DEFAULT, or RULE:pattern/replacement/ with an optional L or U. */
export type MappingRule =
  | { readonly kind: 'default'; readonly text: 'DEFAULT' }
  | {
      readonly kind: 'rule';
      /** The rule as written, for messages. */
      readonly text: string;
      /** The pattern anchored at both ends, sticky: Java's Matcher.matches(). */
      readonly whole: RegExp;
      /** The pattern, global: Java's String.replaceAll. */
      readonly all: RegExp;
      readonly replacement: readonly ReplacementPart[];
      readonly caseChange: 'lower' | 'upper' | undefined;
    };

/** Kafka's SslPrincipalMapper.RULE_PATTERN, verbatim: groups 1 DEFAULT, 2 pattern, 4 replacement, 6 L or U. */
const RULE_PATTERN = '(DEFAULT)|RULE:((\\\\.|[^\\\\/])*)/((\\\\.|[^\\\\/])*)/([LU]?).*?|(.*?)';
/** Splits the list: a comma ends a rule only where a rule can end, so patterns and replacements may hold commas. */
const RULE_SPLITTER = new RegExp(`\\s*(${RULE_PATTERN})\\s*(,\\s*|$)`, 'g');
const RULE_PARSER = new RegExp(RULE_PATTERN, 'y');

/**
 * The rules of `ssl.principal.mapping.rules`, parsed as Kafka's SslPrincipalMapper parses them:
 * a comma-separated list of `DEFAULT` and `RULE:pattern/replacement/` with an optional `L` or `U`
 * (lower- or upper-case the result). A `/` or `\` inside the pattern or replacement is written `\/`,
 * `\\`; commas need no escaping. Empty entries are skipped, so an empty text is no rules at all
 * (every subject then fails to map, as in Kafka). Kafka's default text is {@link DEFAULT_MAPPING_RULES}.
 *
 * Patterns are Java regular expressions run as JavaScript ones; what they share (groups, classes,
 * quantifiers, lazy quantifiers, lookaround) means the same. A leading `(?i)`, `(?s)` or `(?m)`
 * becomes the flag; a Java-only escape such as `\A`, `\Z`, `\Q` or `\p` is refused rather than
 * read differently, and so is Java-only syntax JavaScript cannot parse (possessive quantifiers,
 * inline flags elsewhere). The replacement is Java's: `$1`, `${name}`, `$0` for the whole match,
 * `\` escaping the next character; as in Kafka, `$n` past the pattern's groups is literal text.
 * A replacement Java would fail on when a DN matches (a lone `$`, a group the pattern does not
 * have) is refused here, when the rules are parsed. Throws PrincipalError naming the bad rule.
 */
export function parseMappingRules(text: string): MappingRule[] {
  const rules: MappingRule[] = [];
  for (const [, rule] of text.trim().matchAll(RULE_SPLITTER)) {
    RULE_PARSER.lastIndex = 0;
    const m = RULE_PARSER.exec(rule!)!; // the last alternative matches anything, empty included
    if (m[0].length !== rule!.length) {
      const rest = m[0].length > 0 ? `: unexpected "${rule!.slice(m[0].length)}" after the rule` : ' (expected DEFAULT or RULE:pattern/replacement/ with an optional L or U)';
      throw new PrincipalError(`invalid rule "${rule}" in ssl.principal.mapping.rules${rest}`);
    }
    if (m[1] !== undefined) rules.push({ kind: 'default', text: 'DEFAULT' });
    else if (m[2] !== undefined) rules.push(compileRule(rule!, m[2], m[4]!, m[6] === 'L' ? 'lower' : m[6] === 'U' ? 'upper' : undefined));
  }
  return rules;
}

/** Java-only escapes: `\A` and friends are letters in a JavaScript pattern, and would silently match something else. */
const JS_ESCAPES = 'dDwWsSbBfnrtxuck';

function compileRule(text: string, source: string, replacement: string, caseChange: 'lower' | 'upper' | undefined): MappingRule {
  const bad = (why: string) => new PrincipalError(`invalid rule "${text}" in ssl.principal.mapping.rules: ${why}`);
  let flags = '';
  const inline = /^\(\?([ims]+)\)/.exec(source);
  if (inline) {
    flags = [...new Set(inline[1])].join('');
    source = source.slice(inline[0].length);
  }
  for (const [escape, letter] of source.matchAll(/\\([\s\S])/g)) {
    if (/[A-Za-z]/.test(letter!) && !JS_ESCAPES.includes(letter!)) throw bad(`the pattern uses ${escape}, a Java regular expression escape that JavaScript does not have`);
  }
  try {
    new RegExp(source, flags);
  } catch (err) {
    throw bad(`bad pattern: ${(err as Error).message}`);
  }
  // Every group of `source|` takes part in matching '', unmatched: its groups, counted and named.
  const empty = new RegExp(`${source}|`, flags).exec('')!;
  const groups = empty.length - 1;
  const names = new Set(Object.keys(empty.groups ?? {}));
  return {
    kind: 'rule',
    text,
    whole: new RegExp(`(?:${source})(?![\\s\\S])`, `${flags}y`),
    all: new RegExp(source, `${flags}g`),
    replacement: parseReplacement(replacement, groups, names, bad),
    caseChange,
  };
}

/** A replacement as Java's Matcher.appendReplacement reads it, with Kafka's literal `$n` past the last group. */
function parseReplacement(text: string, groups: number, names: ReadonlySet<string>, bad: (why: string) => PrincipalError): ReplacementPart[] {
  const parts: ReplacementPart[] = [];
  let literal = '';
  const push = (group: number | string) => {
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push({ group });
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      if (i + 1 === text.length) throw bad('the replacement ends in a lone \\');
      literal += text[++i];
    } else if (c !== '$') {
      literal += c;
    } else if (text[i + 1] === '{') {
      const close = text.indexOf('}', i + 2);
      const name = close < 0 ? '' : text.slice(i + 2, close);
      if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) throw bad(`bad group reference in the replacement at "${text.slice(i)}"`);
      if (!names.has(name)) throw bad(`the replacement refers to group \${${name}}, which the pattern does not have`);
      push(name);
      i = close;
    } else if (/[0-9]/.test(text[i + 1] ?? '')) {
      // Java: the first digit is the group; each further digit joins it while the number stays a group.
      let group = Number(text[i + 1]);
      if (group > groups) {
        // Kafka escapes a reference past the last group (SslPrincipalMapper.escapeLiteralBackReferences), unless there are none.
        if (groups === 0) throw bad(`the replacement refers to group $${group}, but the pattern has no groups`);
        literal += c;
        continue;
      }
      i++;
      while (/[0-9]/.test(text[i + 1] ?? '') && group * 10 + Number(text[i + 1]) <= groups) group = group * 10 + Number(text[++i]);
      push(group);
    } else {
      throw bad(`a $ in the replacement must start a group reference ($1, \${name}); write \\$ for a dollar sign`);
    }
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

/**
 * The principal name `rules` give the distinguished name `dn` (Kafka's SslPrincipalMapper.getName):
 * the first rule that applies wins. DEFAULT applies to every DN and gives it unchanged. A RULE
 * applies when its pattern matches the whole DN, and gives `dn` with every match of the pattern
 * replaced (Java's replaceAll), then lower- or upper-cased for L or U. Throws PrincipalError
 * when no rule applies.
 */
export function mapDistinguishedName(rules: readonly MappingRule[], dn: string): string {
  for (const rule of rules) {
    if (rule.kind === 'default') return dn;
    rule.whole.lastIndex = 0;
    if (!rule.whole.test(dn)) continue;
    const name = dn.replace(rule.all, (...args: unknown[]) => expand(rule.replacement, args));
    return rule.caseChange === 'lower' ? name.toLowerCase() : rule.caseChange === 'upper' ? name.toUpperCase() : name;
  }
  throw new PrincipalError(`no rule matches "${dn}" in ssl.principal.mapping.rules (${rules.length === 0 ? 'no rules' : rules.map((r) => r.text).join(',')})`);
}

/** A replacement filled in from a String.replace callback's arguments: the match, its groups, ..., and last the named groups if the pattern has any. */
function expand(parts: readonly ReplacementPart[], args: unknown[]): string {
  const last = args[args.length - 1];
  const named = typeof last === 'object' && last !== null ? (last as Record<string, string | undefined>) : {};
  let out = '';
  // An unmatched group gives nothing, as in Java.
  for (const part of parts) out += typeof part === 'string' ? part : ((typeof part.group === 'number' ? (args[part.group] as string | undefined) : named[part.group]) ?? '');
  return out;
}

/**
 * The principal of a TLS client by its certificate (DER, or PEM): `User` and the name `rules`
 * give its subject DN, as Kafka's DefaultKafkaPrincipalBuilder does. Throws PrincipalError when
 * the certificate is malformed or no rule matches its subject.
 */
export function certificatePrincipal(raw: Buffer, rules: readonly MappingRule[]): Principal {
  return { type: 'User', name: mapDistinguishedName(rules, distinguishedName(raw)) };
}
