/**
 * test/imap/differential-corpus.ts: the MIME corpus the differential test appends to both
 * servers (CRLF line ends, fixed INTERNALDATEs and flags): plain text, multipart/alternative with
 * quoted-printable and an encoded-word subject, multipart/mixed with a base64 attachment and
 * disposition parameters, a forwarded message/rfc822 holding a multipart, address groups and
 * quoted display names, 8bit UTF-8, folded long headers without MIME headers, multipart/related
 * inside multipart/mixed with Content-ID/Description/Location/Language, a 12 KB message, and
 * format=flowed.
 *
 * Exports: `CORPUS` (Array<{ flags, date, body }>: date as IMAP date-time text). Throws nothing.
 */

const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');

const big = Array.from({ length: 150 }, (_, i) => `Line ${String(i).padStart(3, '0')} of the long message: lorem ipsum dolor sit amet.`).join('\n');

export const CORPUS: ReadonlyArray<{ flags: string; date: string; body: Buffer }> = [
  {
    flags: '(\\Seen)',
    date: '"01-Jan-2024 10:00:00 +0000"',
    body: crlf(`From: Alice Example <alice@example.org>
To: ann@example.org
Subject: Plain hello
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <plain1@example.org>

Hello Ann,
this is a plain message with the word zebra in it.
`),
  },
  {
    flags: '()',
    date: '"02-Feb-2024 11:30:00 +0000"',
    body: crlf(`From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.de>
To: "Ann, the first" <ann@example.org>, bob@example.org
Cc: carol@example.net
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=
Date: Fri, 2 Feb 2024 11:30:00 +0100
Message-ID: <alt2@example.de>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Sch=C3=B6ne Gr=C3=BC=C3=9Fe, quoted-printable text.
--b2
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>Sch=C3=B6ne Gr=C3=BC=C3=9Fe</p>
--b2--
`),
  },
  {
    flags: '(\\Flagged $Label1)',
    date: '"15-Mar-2024 08:15:00 +0000"',
    body: crlf(`From: bob@example.org
To: ann@example.org
Subject: Report attached
Date: Fri, 15 Mar 2024 08:15:00 +0000
Message-ID: <mixed3@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix3"

This is a MIME message.
--mix3
Content-Type: text/plain; charset=us-ascii

See the attached report.
--mix3
Content-Type: application/pdf; name="report.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="report.pdf"; size=96
Content-Description: The quarterly report

JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURl
Y29kZT4+CnN0cmVhbQp4nCvkMlAwUDA1NVUwMjVRMAJBQ0tDMDMNBSMQCABqQgVQCmVuZHN0cmVh
--mix3--
`),
  },
  {
    flags: '(\\Answered)',
    date: '"20-Apr-2024 16:45:00 +0000"',
    body: crlf(`From: carol@example.net
To: ann@example.org
Subject: Fwd: the original
Date: Sat, 20 Apr 2024 16:45:00 -0400
Message-ID: <fwd4@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer4"

--outer4
Content-Type: text/plain

Forwarding the message below.
--outer4
Content-Type: message/rfc822

From: dave@example.com
To: carol@example.net
Subject: the original
Date: Thu, 18 Apr 2024 09:00:00 +0000
Message-ID: <orig@example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner4"

--inner4
Content-Type: text/plain; charset=us-ascii

Original text part.
--inner4
Content-Type: text/html; charset=us-ascii

<b>Original</b> html part.
--inner4--

--outer4--
`),
  },
  {
    flags: '()',
    date: '"05-May-2024 00:00:01 +0000"',
    body: crlf(`From: "Smith, John (Sales)" <john.smith@example.com>
Sender: secretary@example.com
Reply-To: replies@example.com
To: Team: ann@example.org, bob@example.org;, eve@example.com
Cc: undisclosed-recipients:;
Bcc: boss@example.com
Subject: Groups and quoting
Date: Sun, 5 May 2024 00:00:01 +0000
Message-ID: <groups5@example.com>
In-Reply-To: <fwd4@example.net>
References: <orig@example.com> <fwd4@example.net>

Body of the group message.
`),
  },
  {
    flags: '(\\Seen \\Draft)',
    date: '"10-Jun-2024 12:00:00 +0000"',
    body: crlf(`From: ann@example.org
To: zoe@example.org
Subject: Brouillon: café
Date: Mon, 10 Jun 2024 12:00:00 +0000
Message-ID: <utf8-6@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Un café crème, s'il vous plaît. Ünïcödé text in 8bit.
`),
  },
  {
    flags: '()',
    date: '"11-Jul-2024 13:14:15 +0000"',
    body: crlf(`From: list@lists.example.org
To: ann@example.org
Subject: A rather long subject line that goes on and on so that the header
 has to be folded over more than one line, as RFC 5322 allows
X-Mailing-List: <announce.lists.example.org>
X-Long-Header: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
Date: Thu, 11 Jul 2024 13:14:15 +0000

No MIME headers here at all.
`),
  },
  {
    flags: '($Label2)',
    date: '"12-Aug-2024 09:09:09 +0000"',
    body: crlf(`From: news@example.org
To: ann@example.org
Subject: Newsletter with images
Date: Mon, 12 Aug 2024 09:09:09 +0000
Message-ID: <related8@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m8"

--m8
Content-Type: multipart/related; boundary="r8"; type="text/html"

--r8
Content-Type: text/html; charset=us-ascii
Content-Language: en, de
Content-Location: http://example.org/news.html

<img src="cid:logo8@example.org"> News.
--r8
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo8@example.org>
Content-Description: logo
Content-Disposition: inline

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==
--r8--

--m8
Content-Type: text/plain; charset=us-ascii; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

Some notes.
--m8--
`),
  },
  {
    flags: '()',
    date: '"13-Sep-2024 18:00:00 +0000"',
    body: crlf(`From: Big Sender <big@example.org>
To: ann@example.org
Subject: The long one
Date: Fri, 13 Sep 2024 18:00:00 +0000
Message-ID: <long9@example.org>

${big}
`),
  },
  {
    flags: '(\\Seen)',
    date: '"14-Oct-2024 07:07:07 +0000"',
    body: crlf(`From: flow@example.org
To: ann@example.org
Subject: Flowed text
Date: Mon, 14 Oct 2024 07:07:07 +0000
Message-ID: <flowed10@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii; format=flowed; delsp=yes

This is a flowed paragraph that continues 
on the next line.
`),
  },
];
