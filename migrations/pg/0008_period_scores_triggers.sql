-- period_scores: credited referrals per referrer and UTC month (period = YYYYMM), with
-- when the count was reached (the latest credit of the month still counted): the monthly
-- leaderboards' order, kept exact by triggers in the statement, hence the transaction, of
-- every credit, revocation, insert and delete of a referral. A credit counts in the month
-- it is dated (credited_at): approving a held referral dates it at the approval; revoking
-- takes it back from the month it was counted in, even a month that has ended.
CREATE FUNCTION referral_period(ms bigint) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC', 'YYYYMM')::integer
$$;
--> statement-breakpoint
CREATE FUNCTION referrals_period_scores() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'credited' AND (TG_OP = 'DELETE' OR NEW.status <> 'credited') THEN
    UPDATE period_scores SET
      referrals = referrals - 1,
      reached_at = coalesce((
        SELECT max(r.credited_at) FROM referrals r
        WHERE r.referrer_id = OLD.referrer_id AND r.status = 'credited' AND referral_period(r.credited_at) = referral_period(OLD.credited_at)
      ), reached_at)
    WHERE period = referral_period(OLD.credited_at) AND user_id = OLD.referrer_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'credited' AND (TG_OP = 'INSERT' OR OLD.status <> 'credited') THEN
    INSERT INTO period_scores (period, user_id, referrals, reached_at)
      VALUES (referral_period(NEW.credited_at), NEW.referrer_id, 1, NEW.credited_at)
      ON CONFLICT (period, user_id) DO UPDATE
        SET referrals = period_scores.referrals + 1,
          reached_at = CASE WHEN period_scores.referrals = 0 THEN excluded.reached_at ELSE greatest(period_scores.reached_at, excluded.reached_at) END;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER referrals_period_scores_insert AFTER INSERT ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_period_scores();
--> statement-breakpoint
CREATE TRIGGER referrals_period_scores_delete AFTER DELETE ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_period_scores();
--> statement-breakpoint
CREATE TRIGGER referrals_period_scores_update AFTER UPDATE OF status ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_period_scores();
--> statement-breakpoint
-- Existing credits, in bulk (before the count triggers exist: one pass, not one upsert of a
-- shared counts row per referrer, which bloats those few rows on PostgreSQL).
INSERT INTO period_scores (period, user_id, referrals, reached_at)
SELECT referral_period(credited_at), referrer_id, count(*), max(credited_at)
FROM referrals WHERE status = 'credited' AND credited_at IS NOT NULL
GROUP BY 1, 2;
--> statement-breakpoint
INSERT INTO period_score_counts (period, score, users)
SELECT s.period, s.referrals, count(*) FROM period_scores s JOIN users u ON u.id = s.user_id
WHERE u.status = 'active' AND s.referrals > 0
GROUP BY 1, 2;
--> statement-breakpoint
-- period_score_counts: how many active referrers hold each count in each month, for ranks
-- and totals (like score_counts for all time). A disabled or deleted account leaves every
-- month's counts, and comes back into them when enabled.
CREATE FUNCTION period_scores_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT status FROM users WHERE id = NEW.user_id) <> 'active' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.referrals > 0 THEN
    UPDATE period_score_counts SET users = users - 1 WHERE period = OLD.period AND score = OLD.referrals;
  END IF;
  IF NEW.referrals > 0 THEN
    INSERT INTO period_score_counts (period, score, users) VALUES (NEW.period, NEW.referrals, 1)
      ON CONFLICT (period, score) DO UPDATE SET users = period_score_counts.users + 1;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER period_scores_counts_insert AFTER INSERT ON period_scores
FOR EACH ROW EXECUTE FUNCTION period_scores_counts();
--> statement-breakpoint
CREATE TRIGGER period_scores_counts_update AFTER UPDATE OF referrals ON period_scores
FOR EACH ROW EXECUTE FUNCTION period_scores_counts();
--> statement-breakpoint
CREATE FUNCTION users_period_score_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'active' AND NEW.status <> 'active' THEN
    UPDATE period_score_counts c SET users = c.users - 1
      FROM period_scores s WHERE s.user_id = NEW.id AND s.referrals > 0 AND c.period = s.period AND c.score = s.referrals;
  ELSIF OLD.status <> 'active' AND NEW.status = 'active' THEN
    INSERT INTO period_score_counts (period, score, users)
      SELECT period, referrals, 1 FROM period_scores WHERE user_id = NEW.id AND referrals > 0
      ON CONFLICT (period, score) DO UPDATE SET users = period_score_counts.users + 1;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER users_period_score_counts AFTER UPDATE OF status ON users
FOR EACH ROW EXECUTE FUNCTION users_period_score_counts();
