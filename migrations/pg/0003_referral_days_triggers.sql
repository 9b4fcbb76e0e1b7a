-- referral_days: credited referrals per referrer per UTC day (day = credited_at / 86400000),
-- kept exact in the same statement, hence the same transaction, as every insert, status
-- change and delete of a referral. The dashboard chart reads 30 rows instead of counting
-- every credited referral of the last 30 days.
CREATE FUNCTION referrals_referral_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'credited' THEN
    UPDATE referral_days SET credited = credited - 1
      WHERE referrer_id = OLD.referrer_id AND day = OLD.credited_at / 86400000;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'credited' THEN
    INSERT INTO referral_days (referrer_id, day, credited) VALUES (NEW.referrer_id, NEW.credited_at / 86400000, 1)
      ON CONFLICT (referrer_id, day) DO UPDATE SET credited = referral_days.credited + 1;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER referrals_referral_days_insert AFTER INSERT ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_referral_days();
--> statement-breakpoint
CREATE TRIGGER referrals_referral_days_delete AFTER DELETE ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_referral_days();
--> statement-breakpoint
CREATE TRIGGER referrals_referral_days_update AFTER UPDATE OF status ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_referral_days();
--> statement-breakpoint
INSERT INTO referral_days (referrer_id, day, credited)
SELECT referrer_id, credited_at / 86400000, count(*) FROM referrals
WHERE status = 'credited' AND credited_at IS NOT NULL
GROUP BY referrer_id, credited_at / 86400000;
