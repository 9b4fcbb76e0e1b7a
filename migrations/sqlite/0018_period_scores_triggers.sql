-- period_scores: credited referrals per referrer and UTC month (period = YYYYMM), with
-- when the count was reached (the latest credit of the month still counted): the monthly
-- leaderboards' order, kept exact by triggers in the statement, hence the transaction, of
-- every credit, revocation, insert and delete of a referral. A credit counts in the month
-- it is dated (credited_at): approving a held referral dates it at the approval; revoking
-- takes it back from the month it was counted in, even a month that has ended.
CREATE TRIGGER period_scores_credit AFTER UPDATE OF status ON referrals WHEN NEW.status = 'credited' AND OLD.status <> 'credited'
BEGIN
  INSERT INTO period_scores (period, user_id, referrals, reached_at)
    VALUES (CAST(strftime('%Y%m', NEW.credited_at / 1000, 'unixepoch') AS INTEGER), NEW.referrer_id, 1, NEW.credited_at)
    ON CONFLICT (period, user_id) DO UPDATE SET referrals = referrals + 1,
      reached_at = CASE WHEN referrals = 0 THEN excluded.reached_at ELSE max(reached_at, excluded.reached_at) END;
END;
--> statement-breakpoint
CREATE TRIGGER period_scores_insert AFTER INSERT ON referrals WHEN NEW.status = 'credited'
BEGIN
  INSERT INTO period_scores (period, user_id, referrals, reached_at)
    VALUES (CAST(strftime('%Y%m', NEW.credited_at / 1000, 'unixepoch') AS INTEGER), NEW.referrer_id, 1, NEW.credited_at)
    ON CONFLICT (period, user_id) DO UPDATE SET referrals = referrals + 1,
      reached_at = CASE WHEN referrals = 0 THEN excluded.reached_at ELSE max(reached_at, excluded.reached_at) END;
END;
--> statement-breakpoint
-- Taken back: the month's count drops, and the time it was reached becomes the latest
-- credit of that month still counted (as users.last_referral_at does for all time).
CREATE TRIGGER period_scores_uncredit AFTER UPDATE OF status ON referrals WHEN OLD.status = 'credited' AND NEW.status <> 'credited'
BEGIN
  UPDATE period_scores SET
    referrals = referrals - 1,
    reached_at = coalesce((
      SELECT max(r.credited_at) FROM referrals r
      WHERE r.referrer_id = OLD.referrer_id AND r.status = 'credited'
        AND strftime('%Y%m', r.credited_at / 1000, 'unixepoch') = strftime('%Y%m', OLD.credited_at / 1000, 'unixepoch')
    ), reached_at)
  WHERE period = CAST(strftime('%Y%m', OLD.credited_at / 1000, 'unixepoch') AS INTEGER) AND user_id = OLD.referrer_id;
END;
--> statement-breakpoint
CREATE TRIGGER period_scores_delete AFTER DELETE ON referrals WHEN OLD.status = 'credited'
BEGIN
  UPDATE period_scores SET
    referrals = referrals - 1,
    reached_at = coalesce((
      SELECT max(r.credited_at) FROM referrals r
      WHERE r.referrer_id = OLD.referrer_id AND r.status = 'credited'
        AND strftime('%Y%m', r.credited_at / 1000, 'unixepoch') = strftime('%Y%m', OLD.credited_at / 1000, 'unixepoch')
    ), reached_at)
  WHERE period = CAST(strftime('%Y%m', OLD.credited_at / 1000, 'unixepoch') AS INTEGER) AND user_id = OLD.referrer_id;
END;
--> statement-breakpoint
-- Existing credits, in bulk (before the count triggers exist, so they run once, not per row).
INSERT INTO period_scores (period, user_id, referrals, reached_at)
SELECT CAST(strftime('%Y%m', credited_at / 1000, 'unixepoch') AS INTEGER), referrer_id, count(*), max(credited_at)
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
CREATE TRIGGER period_score_counts_insert AFTER INSERT ON period_scores
WHEN NEW.referrals > 0 AND (SELECT status FROM users WHERE id = NEW.user_id) = 'active'
BEGIN
  INSERT INTO period_score_counts (period, score, users) VALUES (NEW.period, NEW.referrals, 1)
    ON CONFLICT (period, score) DO UPDATE SET users = users + 1;
END;
--> statement-breakpoint
CREATE TRIGGER period_score_counts_update AFTER UPDATE OF referrals ON period_scores
WHEN (SELECT status FROM users WHERE id = NEW.user_id) = 'active'
BEGIN
  UPDATE period_score_counts SET users = users - 1 WHERE OLD.referrals > 0 AND period = OLD.period AND score = OLD.referrals;
  INSERT INTO period_score_counts (period, score, users) SELECT NEW.period, NEW.referrals, 1 WHERE NEW.referrals > 0
    ON CONFLICT (period, score) DO UPDATE SET users = users + 1;
END;
--> statement-breakpoint
CREATE TRIGGER period_score_counts_leave AFTER UPDATE OF status ON users WHEN OLD.status = 'active' AND NEW.status <> 'active'
BEGIN
  UPDATE period_score_counts SET users = users - 1
    WHERE (period, score) IN (SELECT period, referrals FROM period_scores WHERE user_id = NEW.id AND referrals > 0);
END;
--> statement-breakpoint
CREATE TRIGGER period_score_counts_return AFTER UPDATE OF status ON users WHEN OLD.status <> 'active' AND NEW.status = 'active'
BEGIN
  INSERT INTO period_score_counts (period, score, users)
    SELECT period, referrals, 1 FROM period_scores WHERE user_id = NEW.id AND referrals > 0
    ON CONFLICT (period, score) DO UPDATE SET users = users + 1;
END;
