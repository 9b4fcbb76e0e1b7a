-- referral_days: credited referrals per referrer per UTC day (day = credited_at / 86400000),
-- kept exact in the same statement, hence the same transaction, as every insert, status
-- change and delete of a referral. The dashboard chart reads 30 rows instead of counting
-- every credited referral of the last 30 days.
CREATE TRIGGER referral_days_uncredit AFTER UPDATE OF status ON referrals WHEN OLD.status = 'credited'
BEGIN
  UPDATE referral_days SET credited = credited - 1 WHERE referrer_id = OLD.referrer_id AND day = OLD.credited_at / 86400000;
END;
--> statement-breakpoint
CREATE TRIGGER referral_days_credit AFTER UPDATE OF status ON referrals WHEN NEW.status = 'credited'
BEGIN
  INSERT INTO referral_days (referrer_id, day, credited) VALUES (NEW.referrer_id, NEW.credited_at / 86400000, 1)
    ON CONFLICT (referrer_id, day) DO UPDATE SET credited = credited + 1;
END;
--> statement-breakpoint
CREATE TRIGGER referral_days_insert AFTER INSERT ON referrals WHEN NEW.status = 'credited'
BEGIN
  INSERT INTO referral_days (referrer_id, day, credited) VALUES (NEW.referrer_id, NEW.credited_at / 86400000, 1)
    ON CONFLICT (referrer_id, day) DO UPDATE SET credited = credited + 1;
END;
--> statement-breakpoint
CREATE TRIGGER referral_days_delete AFTER DELETE ON referrals WHEN OLD.status = 'credited'
BEGIN
  UPDATE referral_days SET credited = credited - 1 WHERE referrer_id = OLD.referrer_id AND day = OLD.credited_at / 86400000;
END;
--> statement-breakpoint
INSERT INTO referral_days (referrer_id, day, credited)
SELECT referrer_id, credited_at / 86400000, count(*) FROM referrals
WHERE status = 'credited' AND credited_at IS NOT NULL
GROUP BY referrer_id, credited_at / 86400000;
