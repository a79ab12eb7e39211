import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  certificatePrincipal,
  DEFAULT_MAPPING_RULES,
  distinguishedName,
  mapDistinguishedName,
  parseMappingRules,
  parsePrincipal,
  PrincipalError,
  principalString,
} from '../../../src/security/principals';

/**
 * A self-signed certificate made by `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
 * -nodes -subj "/C=DE/O=Cairn/OU=eng/CN=alice" -days 3650`. Java's X500Principal.getName() prints
 * its subject `CN=alice,OU=eng,O=Cairn,C=DE`.
 */
const ALICE_PEM = `-----BEGIN CERTIFICATE-----
MIIBzDCCAXGgAwIBAgIUA5gbViweXiHQ0EeP5nHz0SbheFwwCgYIKoZIzj0EAwIw
OzELMAkGA1UEBhMCREUxDjAMBgNVBAoMBUNhaXJuMQwwCgYDVQQLDANlbmcxDjAM
BgNVBAMMBWFsaWNlMB4XDTI2MTIwMTIwMzczMFoXDTM2MTEyODIwMzczMFowOzEL
MAkGA1UEBhMCREUxDjAMBgNVBAoMBUNhaXJuMQwwCgYDVQQLDANlbmcxDjAMBgNV
BAMMBWFsaWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEMfkSxtffV+GPLJT+
XM3eQhzXv5kxCj8i+LAk8tITjygZGbCoW6G54QNLsvB33+bUYhtLhEI0WrypCPRz
p8dQeqNTMFEwHQYDVR0OBBYEFOOl1n1CIUp65/cyGUX5kHL7DOUTMB8GA1UdIwQY
MBaAFOOl1n1CIUp65/cyGUX5kHL7DOUTMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDSQAwRgIhAIErMmWsa7lOXeWwyXhAlEjVWbON3pTYdekdaZ+JWzqSAiEA
9JDrybJrDyHTBW11potkCe+QVFtdtc1v9mc57KCcZdM=
-----END CERTIFICATE-----
`;
const ALICE_DER = new X509Certificate(ALICE_PEM).raw;

// ---------------------------------------------------------------------------------------------
// Certificates with any subject: ALICE_DER with its subject swapped. Neither Node nor Java checks the
// signature when parsing, so the expected names below are what Java's X500Principal.getName()
// printed for these very bytes (Java 25, and Java 17 except on the T61 and BMP strings, which Java
// 17 decoded as UTF-8).

const CN = '2.5.4.3';
const C = '2.5.4.6';
const O = '2.5.4.10';
const OU = '2.5.4.11';
const UID = '0.9.2342.19200300.100.1.1';
const DC = '0.9.2342.19200300.100.1.25';
const EMAIL = '1.2.840.113549.1.9.1';
const UTF8 = 0x0c;
const PRINTABLE = 0x13;
const T61 = 0x14;
const IA5 = 0x16;
const BMP = 0x1e;
const UNIVERSAL = 0x1c;
const NUMERIC = 0x12;

function tlv(tag: number, contents: Buffer): Buffer {
  const n = contents.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, contents]);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(BigInt);
  const bytes: number[] = [];
  for (const arc of [a! * 40n + b!, ...rest]) {
    const digits = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) digits.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...digits);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** An attribute: its OID, the DER tag of its value, and the value (a string is UTF-8 encoded). */
type Attribute = [type: string, tag: number, value: string | Buffer];

/** The elements inside a DER SEQUENCE. */
function elementsOf(der: Buffer): Buffer[] {
  const header = (at: number) => (der[at + 1]! & 0x80 ? 2 + (der[at + 1]! & 0x7f) : 2);
  const length = (at: number) => (der[at + 1]! & 0x80 ? der.readUIntBE(at + 2, der[at + 1]! & 0x7f) : der[at + 1]!);
  const out: Buffer[] = [];
  for (let at = header(0); at < der.length; at += header(at) + length(at)) out.push(der.subarray(at, at + header(at) + length(at)));
  return out;
}

/** ALICE_DER with the subject `rdns`, most significant first (the order of the certificate). */
function certificateWithSubject(rdns: Attribute[][]): Buffer {
  const attribute = ([type, tag, value]: Attribute) => tlv(0x30, Buffer.concat([oid(type), tlv(tag, Buffer.from(value))]));
  const name = tlv(0x30, Buffer.concat(rdns.map((rdn) => tlv(0x31, Buffer.concat(rdn.map(attribute))))));
  const [tbs, ...signature] = elementsOf(ALICE_DER);
  const fields = elementsOf(tbs!);
  fields[(fields[0]![0] === 0xa0 ? 1 : 0) + 4] = name; // [version], serial, signature, issuer, validity, subject
  return tlv(0x30, Buffer.concat([tlv(0x30, Buffer.concat(fields)), ...signature]));
}

describe('principals', () => {
  it('principalString and parsePrincipal are inverses, Type:name', () => {
    expect(principalString({ type: 'User', name: 'alice' })).toBe('User:alice');
    expect(parsePrincipal('User:alice')).toEqual({ type: 'User', name: 'alice' });
    expect(parsePrincipal('Group:ops')).toEqual({ type: 'Group', name: 'ops' });
    // The name is everything after the first colon: a DN or a name with colons in it.
    expect(parsePrincipal('User:CN=a:b,O=x')).toEqual({ type: 'User', name: 'CN=a:b,O=x' });
    expect(principalString(parsePrincipal('User:CN=alice,OU=eng'))).toBe('User:CN=alice,OU=eng');
  });

  it.each(['alice', '', ':alice', 'User:', 'User', 'Us er:alice', 'User1:alice', '*:alice'])('parsePrincipal refuses %j', (text) => {
    expect(() => parsePrincipal(text)).toThrow(PrincipalError);
  });

  it('PrincipalError says what was wrong', () => {
    expect(() => parsePrincipal('alice')).toThrow('expected a principal as Type:name (like User:alice), got "alice"');
    expect(() => parsePrincipal('U2:alice')).toThrow('must be letters');
    expect(new PrincipalError('x')).toBeInstanceOf(Error);
  });

  it('ANONYMOUS is User:ANONYMOUS and cannot be changed', () => {
    expect(principalString(ANONYMOUS)).toBe('User:ANONYMOUS');
    expect(Object.isFrozen(ANONYMOUS)).toBe(true);
  });
});

describe('distinguishedName', () => {
  it("prints the subject in Java's RFC 2253 form, most significant RDN last, from DER or PEM", () => {
    // What Node prints, for comparison: one attribute a line, most significant first.
    expect(new X509Certificate(ALICE_DER).subject).toBe('C=DE\nO=Cairn\nOU=eng\nCN=alice');
    expect(distinguishedName(ALICE_DER)).toBe('CN=alice,OU=eng,O=Cairn,C=DE');
    expect(distinguishedName(Buffer.from(ALICE_PEM))).toBe('CN=alice,OU=eng,O=Cairn,C=DE');
  });

  it('reads the subject, not the issuer', () => {
    const der = certificateWithSubject([[[C, PRINTABLE, 'DE']], [[CN, UTF8, 'bob']]]);
    expect(new X509Certificate(der).issuer).toBe('C=DE\nO=Cairn\nOU=eng\nCN=alice');
    expect(distinguishedName(der)).toBe('CN=bob,C=DE');
  });

  it('escapes ,=+<>#;"\\ anywhere in a value with a backslash, as Java does', () => {
    const der = certificateWithSubject([[[O, UTF8, 'a,b+c"d\\e<f>g;h=i#j']], [[CN, UTF8, '#x#']]]);
    // Node (OpenSSL) escapes differently: not `=`, and `#` only first.
    expect(new X509Certificate(der).subject).toBe('O=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h=i#j\nCN=\\#x#');
    expect(distinguishedName(der)).toBe(String.raw`CN=\#x\#,O=a\,b\+c\"d\\e\<f\>g\;h\=i\#j`);
  });

  it('escapes every leading and trailing space or CR, and NUL as \\00; other control characters stay as they are', () => {
    expect(distinguishedName(certificateWithSubject([[[C, UTF8, '\r a \r']], [[OU, UTF8, '   ']], [[CN, UTF8, '  two  ']]]))).toBe('CN=\\ \\ two\\ \\ ,OU=\\ \\ \\ ,C=\\\r\\ a\\ \\\r');
    expect(distinguishedName(certificateWithSubject([[[CN, UTF8, 'a\tb\nc\0d\x7fe']]]))).toBe('CN=a\tb\nc\\00d\x7fe');
  });

  it('joins the values of a multi-valued RDN with +, in the order of the certificate', () => {
    const der = certificateWithSubject([
      [[C, PRINTABLE, 'DE']],
      [
        [CN, UTF8, 'bob'],
        [UID, UTF8, '42'],
        [OU, UTF8, 'z+w'],
      ],
      [[O, UTF8, 'x']],
    ]);
    expect(distinguishedName(der)).toBe('O=x,CN=bob+UID=42+OU=z\\+w,C=DE');
  });

  it('names CN, C, L, ST, O, OU, STREET, DC and UID by keyword', () => {
    const der = certificateWithSubject([
      [[DC, IA5, 'com']],
      [[DC, IA5, 'example']],
      [['2.5.4.8', PRINTABLE, 'BE']],
      [['2.5.4.7', UTF8, 'Berlin']],
      [['2.5.4.9', UTF8, 'Main St']],
      [[UID, UTF8, 'u1']],
    ]);
    expect(distinguishedName(der)).toBe('UID=u1,STREET=Main St,L=Berlin,ST=BE,DC=example,DC=com');
  });

  it('prints every other attribute as OID=#hex of its DER value, as Java does (emailAddress, serialNumber, GN, unknown OIDs)', () => {
    const der = certificateWithSubject([
      [[EMAIL, IA5, 'bob@example.com']],
      [['2.5.4.5', PRINTABLE, '123']],
      [['2.5.4.42', UTF8, 'Bob']],
      [['1.2.3.4', UTF8, 'foo']],
      [['2.25.329800735698586629295641978511506172918', UTF8, 'u']],
      [[CN, UTF8, 'bob']],
    ]);
    expect(new X509Certificate(der).subject.split('\n')[0]).toBe('emailAddress=bob@example.com');
    expect(distinguishedName(der)).toBe(
      'CN=bob,2.25.329800735698586629295641978511506172918=#0c0175,1.2.3.4=#0c03666f6f,2.5.4.42=#0c03426f62,2.5.4.5=#1303313233,1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d',
    );
  });

  it('decodes each string type by its charset (Java 21+), and prints non-string values in hex', () => {
    const der = certificateWithSubject([
      [[CN, PRINTABLE, 'printable']],
      [[CN, IA5, 'ia5']],
      [[CN, T61, Buffer.from([0x41, 0xe9, 0x42])]], // Latin-1
      [[CN, BMP, Buffer.from([0x00, 0x41, 0x20, 0xac])]], // UTF-16BE
      [[CN, NUMERIC, '123']],
      [[CN, UNIVERSAL, Buffer.from([0, 0, 0, 0x41])]],
    ]);
    expect(distinguishedName(der)).toBe('CN=#1c0400000041,CN=#1203313233,CN=A€,CN=AéB,CN=ia5,CN=printable');
    expect(distinguishedName(certificateWithSubject([[[O, UTF8, 'Zürich']], [[CN, UTF8, 'Zoë 😀 日本']]]))).toBe('CN=Zoë 😀 日本,O=Zürich');
  });

  it('refuses what is not a certificate', () => {
    expect(() => distinguishedName(Buffer.from('not a certificate'))).toThrow(PrincipalError);
    expect(() => distinguishedName(ALICE_DER.subarray(0, 100))).toThrow(PrincipalError);
  });
});

/** The rules of the example in Kafka's documentation of ssl.principal.mapping.rules. */
const KAFKA_EXAMPLE = 'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT';

const map = (rules: string, dn: string) => mapDistinguishedName(parseMappingRules(rules), dn);

describe('ssl.principal.mapping.rules', () => {
  it("maps the examples of Kafka's documentation", () => {
    const rules = parseMappingRules(KAFKA_EXAMPLE);
    expect(rules.map((r) => r.kind)).toEqual(['rule', 'rule', 'rule', 'default']);
    expect(mapDistinguishedName(rules, 'CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown')).toBe('serviceuser');
    expect(mapDistinguishedName(rules, 'CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown')).toBe('adminuser@admin');
    expect(mapDistinguishedName(rules, 'CN=kafka1,O=Apache')).toBe('kafka1');
    expect(mapDistinguishedName(rules, 'OU=x,O=y')).toBe('OU=x,O=y'); // DEFAULT
    expect(map('RULE:^CN=([a-zA-Z0-9.]*).*$/$1/U', 'CN=kafka1,O=Apache')).toBe('KAFKA1');
  });

  it('DEFAULT gives the whole DN, and is the default', () => {
    expect(DEFAULT_MAPPING_RULES).toBe('DEFAULT');
    expect(map(DEFAULT_MAPPING_RULES, 'CN=alice,OU=eng,O=Cairn,C=DE')).toBe('CN=alice,OU=eng,O=Cairn,C=DE');
  });

  it('tries the rules in order: the first that applies wins', () => {
    expect(map('RULE:^CN=([^,]*),.*$/first $1/,RULE:^CN=(.*)$/second $1/', 'CN=a,O=b')).toBe('first a');
    expect(map('RULE:^CN=([^,]*),.*$/first $1/,RULE:^CN=(.*)$/second $1/', 'CN=solo')).toBe('second solo');
    expect(map('DEFAULT,RULE:^CN=(.*)$/$1/', 'CN=solo')).toBe('CN=solo');
  });

  it('a pattern must match the whole DN, anchored or not', () => {
    expect(() => map('RULE:CN=alice/bob/', 'CN=alice,O=x')).toThrow(PrincipalError);
    expect(map('RULE:CN=alice/bob/', 'CN=alice')).toBe('bob');
    expect(() => map('RULE:CN=([^,]*)/$1/', 'CN=alice,CN=bob')).toThrow('no rule matches "CN=alice,CN=bob"');
    expect(() => map('RULE:^CN=([a-zA-Z0-9.]*).*$/$1/U', 'O=Apache,CN=kafka1')).toThrow('no rule matches');
    expect(map('RULE:^CN=([a-zA-Z0-9.]*).*$/$1/U,DEFAULT', 'O=Apache,CN=kafka1')).toBe('O=Apache,CN=kafka1');
  });

  it('L lower-cases and U upper-cases the result, not the DN the pattern sees', () => {
    expect(map('RULE:^CN=(.*)$/$1-X/L', 'CN=MiXeD')).toBe('mixed-x');
    expect(map('RULE:^CN=(.*)$/$1-x/U', 'CN=MiXeD')).toBe('MIXED-X');
    expect(map('RULE:^CN=(.*)$/$1-x/', 'CN=MiXeD')).toBe('MiXeD-x');
    expect(() => map('RULE:^cn=(.*)$/$1/L', 'CN=MiXeD')).toThrow('no rule matches');
  });

  it('replaces every match, as Java replaceAll does', () => {
    expect(map('RULE:.*/x/', 'abc')).toBe('xx'); // `.*` also matches the empty end
    expect(map('RULE:(.*)/[$1]/', 'abc')).toBe('[abc][]');
  });

  it("reads the replacement as Java does, with Kafka's literal $n past the last group", () => {
    const dn = 'CN=a,OU=b';
    expect(map('RULE:^CN=(.*?),OU=(.*?)$/$1@$2/', dn)).toBe('a@b');
    expect(map('RULE:^CN=(.*?),OU=(.*?)$/$1@$4/', dn)).toBe('a@$4');
    expect(map('RULE:^CN=(.*?),OU=(.*?)$/$1@$45/', dn)).toBe('a@$45');
    expect(map('RULE:^CN=(.*?),OU=(.*?)$/$15/', dn)).toBe('a5'); // group 1, then "5": there is no group 15
    expect(map('RULE:^CN=(.*?),OU=(.*?)$/$0!/', dn)).toBe('CN=a,OU=b!');
    expect(map('RULE:^CN=(.*?),OU=(.*?)$/\\$1 \\\\ \\/ $2/', dn)).toBe('$1 \\ / b'); // \$ \\ \/ are literal
    expect(map('RULE:^CN=(?<who>[^,]*)$/${who}!/', 'CN=zed')).toBe('zed!');
    expect(map('RULE:^CN=(a)|(b)$/[$1|$2]/', 'CN=a')).toBe('[a|]'); // a group that took no part is empty
  });

  it('allows commas in patterns and replacements, \\/ for a slash, spaces around rules and empty entries', () => {
    expect(map('RULE:^CN=(.*?),OU=(.*?)$/$2,$1/', 'CN=a,OU=b')).toBe('b,a');
    expect(map('RULE:^CN=a\\/b$/ok/', 'CN=a/b')).toBe('ok');
    expect(map('  RULE:^x$/y/ ,  DEFAULT  ', 'x')).toBe('y');
    expect(parseMappingRules('DEFAULT,,DEFAULT').map((r) => r.kind)).toEqual(['default', 'default']);
    expect(map('RULE:^CN=(.*),OU=.*$/$1/', 'CN=a\\,b,OU=c')).toBe('a\\,b'); // an escaped comma of the DN stays escaped
  });

  it('takes a leading (?i) as the flag', () => {
    expect(map('RULE:(?i)^cn=(.*)$/$1/', 'CN=Alice')).toBe('Alice');
  });

  it('no rules (an empty text) match nothing, as in Kafka', () => {
    expect(parseMappingRules('')).toEqual([]);
    expect(parseMappingRules(' , ')).toEqual([]);
    expect(() => mapDistinguishedName([], 'CN=a')).toThrow('no rule matches "CN=a" in ssl.principal.mapping.rules (no rules)');
  });

  it.each([
    ['RULE:abc', 'invalid rule "RULE:abc" in ssl.principal.mapping.rules (expected DEFAULT or RULE:pattern/replacement/ with an optional L or U)'],
    ['FOO', 'invalid rule "FOO"'],
    ['DEFAULT,FOO', 'invalid rule "FOO"'],
    ['RULE:a/b/X', 'invalid rule "RULE:a/b/X" in ssl.principal.mapping.rules: unexpected "X" after the rule'],
    ['RULE:a/b/LU', 'unexpected "U" after the rule'],
    ['RULE:x/a\\/', 'invalid rule "RULE:x/a\\/"'],
    ['RULE:(/x/', 'invalid rule "RULE:(/x/" in ssl.principal.mapping.rules: bad pattern'],
    ['RULE:a*+/x/', 'bad pattern'],
    ['RULE:^CN=a\\Z/x/', 'the pattern uses \\Z, a Java regular expression escape that JavaScript does not have'],
    ['RULE:\\p{Lower}+/x/', 'the pattern uses \\p'],
    ['RULE:x/$/', 'a $ in the replacement must start a group reference'],
    ['RULE:x/a$b/', 'a $ in the replacement must start a group reference'],
    ['RULE:x/$1/', 'the replacement refers to group $1, but the pattern has no groups'],
    ['RULE:(x)/${nope}/', 'the replacement refers to group ${nope}, which the pattern does not have'],
    ['RULE:(x)/${1}/', 'bad group reference in the replacement at "${1}"'],
  ])('refuses %j', (text, message) => {
    expect(() => parseMappingRules(text)).toThrow(PrincipalError);
    expect(() => parseMappingRules(text)).toThrow(message);
  });

  it('a rule parsed once maps any number of DNs (no state left in its patterns)', () => {
    const rules = parseMappingRules('RULE:^CN=([^,]*),.*$/$1/,RULE:(.*)/[$1]/');
    for (let i = 0; i < 3; i++) {
      expect(mapDistinguishedName(rules, 'CN=a,O=b')).toBe('a');
      expect(mapDistinguishedName(rules, 'O=b')).toBe('[O=b][]');
    }
  });
});

describe('certificatePrincipal', () => {
  it('is User and the name the rules give the subject', () => {
    expect(certificatePrincipal(ALICE_DER, parseMappingRules(DEFAULT_MAPPING_RULES))).toEqual({ type: 'User', name: 'CN=alice,OU=eng,O=Cairn,C=DE' });
    expect(certificatePrincipal(ALICE_DER, parseMappingRules('RULE:^CN=([^,]*),OU=([^,]*),.*$/$1@$2/U'))).toEqual({ type: 'User', name: 'ALICE@ENG' });
    expect(principalString(certificatePrincipal(ALICE_DER, parseMappingRules(KAFKA_EXAMPLE)))).toBe('User:alice');
  });

  it('throws PrincipalError when no rule matches the subject, or for a malformed certificate', () => {
    expect(() => certificatePrincipal(ALICE_DER, parseMappingRules('RULE:^CN=bob,.*$/bob/'))).toThrow('no rule matches "CN=alice,OU=eng,O=Cairn,C=DE"');
    expect(() => certificatePrincipal(Buffer.alloc(10), parseMappingRules('DEFAULT'))).toThrow(PrincipalError);
  });
});
