/**
 * test/imap/fetch-corpus.ts: the messages the FETCH renderer is tested on (fetch.test.ts), the
 * same ones its output was compared on against Dovecot: plain text, multipart/alternative,
 * multipart/mixed with base64 attachments, nested message/rfc822, encoded-word subjects, group
 * addresses, missing headers, malformed MIME, 8-bit headers, quoted-printable, an unknown
 * transfer encoding. Lines end in CRLF.
 *
 * Exports: `CORPUS` (name → bytes), `crlf`.
 */

export const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'latin1');

const plain = `From: Ann Example <ann@example.org>
To: bob@example.org, "Carl, Jr." <carl@x.org>
Cc: "Quote \\"Q\\" Back\\\\slash" <q@example.org>
Subject: Hello there
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <a1@example.org>
In-Reply-To: <a0@example.org>

line one
line two
`;

const alternative = `From: ann@example.org
To: bob@example.org
Subject: =?UTF-8?Q?Caf=C3=A9?= and =?ISO-8859-1?B?Q2Fm6Q==?=
Date: Tue, 2 Jan 2024 11:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-1"

This is a multi-part message in MIME format.
--alt-1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 au lait, a long line that is wrapped by a soft line break=
 here.   
Trailing=20
--alt-1
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: 7bit

<p>Caf&eacute;</p>
--alt-1--
epilogue
`;

const mixed = `From: "Ann" <ann@example.org>
To: bob@example.org
Subject: Report
Date: Wed, 3 Jan 2024 12:00:00 -0500
Message-ID: <m3@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed;
 boundary="==mix==";
 report-type=monthly

--==mix==
Content-Type: text/plain; charset=us-ascii; format=flowed
Content-Language: en, de

See attached.
--==mix==
Content-Type: application/pdf; name="report.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="report.pdf"; size=12
Content-ID: <part2@example.org>
Content-Description: The report
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Location: http://example.org/report.pdf

JVBERi0xLjQKJcfs
j6IKMSAwIG9iago=
--==mix==
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-Disposition: inline

iVBORw0KGgo=
--==mix==--
`;

const nested = `From: ann@example.org
To: bob@example.org
Subject: Fwd: the thread
Date: Thu, 4 Jan 2024 13:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

Forwarding.
--outer
Content-Type: message/rfc822
Content-Disposition: attachment

From: Carl <carl@x.org>
To: ann@example.org
Subject: the thread
Date: Wed, 3 Jan 2024 09:00:00 +0000
Message-ID: <inner@x.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

inner text
--inner
Content-Type: text/html

<b>inner</b>
--inner--
--outer
Content-Type: message/rfc822

From: dave@y.org
Subject: simple inner

just text
--outer--
`;

const groups = `From: Ann <ann@example.org>
Sender: secretary@example.org
Reply-To: replies@example.org
To: Friends: bob@example.org, "Carl" <carl@x.org>;, undisclosed-recipients:;
Cc: nodomain, ann@example.org (Ann in a comment)
Bcc: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>
Subject: groups
Date: Fri, 5 Jan 2024 14:00:00 +0000

body
`;

const noHeaders = `
only a body, no header at all
`;

const headerOnly = `From: ann@example.org
Subject: no body
`;

const malformed = `From: ann@example.org
Subject: broken
Content-Type: multipart/mixed

no boundary parameter at all
`;

const noClose = `From: ann@example.org
Subject: unclosed
Content-Type: multipart/mixed; boundary="xx"

--xx
Content-Type: text/plain

part one
--xx
Content-Type: text/plain; charset

part two never closed
`;

const eightBit = `From: J\xfcrgen <j@example.org>
To: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>
Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln
Date: Sat, 6 Jan 2024 15:00:00 +0000
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Gr\xc3\xbc\xc3\x9fe
`;

const folded = `From: ann@example.org
Subject: a long subject that goes on
\tand on across a folded line,
   and another
X-Empty:
Date: Sun, 7 Jan 2024 16:00:00 +0000
Content-Type: text/plain;
\tcharset="iso-8859-1";
\tformat=flowed

folded
`;

const unknownCte = `From: ann@example.org
Subject: uuencoded
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain
Content-Transfer-Encoding: x-uuencode

begin 644 a
end
--b
Content-Type: application/octet-stream
Content-Transfer-Encoding: BASE64

AAEC/w==
--b--
`;

const topRfc822 = `From: ann@example.org
Subject: wrapper
MIME-Version: 1.0
Content-Type: message/rfc822

From: inner@example.org
Subject: wrapped

wrapped body
`;

const digest = `From: ann@example.org
Subject: digest
MIME-Version: 1.0
Content-Type: multipart/digest; boundary=d

--d

From: one@example.org
Subject: one

first
--d
Content-Type: text/plain

not a message
--d--
`;

const params2231 = `From: ann@example.org
Subject: parameters
MIME-Version: 1.0
Content-Type: Multipart/Mixed; Boundary="P"

--P
Content-Type: Text/Plain; Charset=UTF-8; Format=Flowed
Content-Language: fr

bonjour
--P
Content-Type: application/octet-stream;
 name*0="very long ";
 name*1="name.txt"
Content-Disposition: ATTACHMENT;
 filename*=utf-8''%E2%82%AC%20rates.txt
Content-Transfer-Encoding: Quoted-Printable

=E2=82=AC
--P--
`;

const oddAddresses = `From: "" <empty@example.org>
To: <@route1,@route2:routed@example.org>, trailing@example.org,
Cc: "Ann (not a comment)" <ann@example.org>, Bob Smith <bob@example.org> (the builder)
Reply-To: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= <g@example.org>
Subject:
In-Reply-To: <a@example.org>
\t<b@example.org>
Message-ID: <id with spaces@example.org>
Date: Mon, 8 Jan 2024 17:00:00 +0000 (UTC)

x
`;

const eightBitParams = `From: ann@example.org
Subject: raw 8-bit parameter
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=e

--e
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename="Gr\xc3\xbc\xc3\x9fe.txt"
Content-Description: "quoted" \\ description

x
--e--
`;

export const CORPUS: Readonly<Record<string, Buffer>> = Object.freeze({
  plain: crlf(plain),
  alternative: crlf(alternative),
  mixed: crlf(mixed),
  nested: crlf(nested),
  groups: crlf(groups),
  noHeaders: crlf(noHeaders),
  headerOnly: crlf(headerOnly),
  malformed: crlf(malformed),
  noClose: crlf(noClose),
  eightBit: crlf(eightBit),
  folded: crlf(folded),
  unknownCte: crlf(unknownCte),
  topRfc822: crlf(topRfc822),
  digest: crlf(digest),
  params2231: crlf(params2231),
  oddAddresses: crlf(oddAddresses),
  eightBitParams: crlf(eightBitParams),
});
