<?php
/*
 * bench/webmail/config.inc.php: Roundcube's configuration for bench/webmail.ts (the peer).
 *
 * The bench copies this file into a config directory of its own in a temp dir, beside a link to
 * the installed package's defaults.inc.php, and runs PHP's built-in server with
 * ROUNDCUBE_CONFIG_DIR pointing there (Roundcube's iniset.php reads that variable), so nothing
 * under /etc is read as configuration or written. The values that change per run come from the
 * environment the bench gives PHP (all required):
 *   POSTERN_BENCH_RC_DB     the SQLite database file (created from SQL/sqlite.initial.sql)
 *   POSTERN_BENCH_RC_IMAP   host:port of the Dovecot instance holding the same messages
 *   POSTERN_BENCH_RC_DIR    the temp dir for Roundcube's logs/ and temp/
 *   POSTERN_BENCH_RC_KEY    a 24-character session encryption key, fresh each run
 * Everything else is the package default (no IMAP or message cache, sessions in the database,
 * 50 messages a page, the elastic skin), as a stock installation runs it.
 */
$config = [];
$config['db_dsnw'] = 'sqlite:///' . getenv('POSTERN_BENCH_RC_DB') . '?mode=0640';
$config['imap_host'] = getenv('POSTERN_BENCH_RC_IMAP');
$config['smtp_host'] = '';
$config['log_dir'] = getenv('POSTERN_BENCH_RC_DIR') . '/logs/';
$config['temp_dir'] = getenv('POSTERN_BENCH_RC_DIR') . '/temp/';
$config['des_key'] = getenv('POSTERN_BENCH_RC_KEY');
$config['support_url'] = '';
$config['product_name'] = 'Roundcube Webmail';
$config['plugins'] = [];
$config['skin'] = 'elastic';
$config['enable_spellcheck'] = false;
$config['enable_installer'] = false;
$config['mail_pagesize'] = 50;
