#!/bin/sh
# Seeds the demo user's maildir: an INBOX with a few messages, Archive, Projects/2026.
set -eu
echo 'demo:{PLAIN}demo-password::::::' > /etc/dovecot/demo.passwd
root=/srv/mail/demo
for dir in "$root" "$root/Archive" "$root/Projects/2026"; do
  mkdir -p "$dir/cur" "$dir/new" "$dir/tmp"
done
n=0
for subject in "Welcome to imap-gateway" "Your invoice 2026-11" "Compiler meeting" "Grüße aus Berlin"; do
  n=$((n + 1))
  cat > "$root/cur/179500000$n.M$n.demo:2," <<MSG
From: Demo Sender <sender@example.org>
To: demo@example.org
Subject: $subject
Date: Thu, 26 Nov 2026 09:0$n:00 +0000
Message-ID: <demo-$n@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Message $n: $subject.
MSG
done
cat > "$root/Archive/cur/1795000100.M1.demo:2,S" <<'MSG'
From: old@example.org
To: demo@example.org
Subject: Archived

Old mail.
MSG
chown -R dovecot:dovecot /srv/mail
