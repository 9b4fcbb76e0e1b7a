-- A score group that no longer holds anyone is removed, in score_counts (all time) and
-- period_score_counts (months). Every credit moves its referrer from one group to the
-- next, so without this each month kept a row with 0 for every count anyone passed
-- through: a top referrer at 3,000 left 3,000 empty rows, and every total and rank summed
-- over them. Rows are read as before (a missing group and a group of 0 are the same).
DELETE FROM score_counts WHERE users = 0;
--> statement-breakpoint
DELETE FROM period_score_counts WHERE users = 0;
--> statement-breakpoint
CREATE FUNCTION score_counts_drop_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'score_counts' THEN
    DELETE FROM score_counts WHERE score = NEW.score AND users = 0;
  ELSE
    DELETE FROM period_score_counts WHERE period = NEW.period AND score = NEW.score AND users = 0;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER score_counts_drop_empty AFTER UPDATE OF users ON score_counts
FOR EACH ROW WHEN (NEW.users = 0) EXECUTE FUNCTION score_counts_drop_empty();
--> statement-breakpoint
CREATE TRIGGER period_score_counts_drop_empty AFTER UPDATE OF users ON period_score_counts
FOR EACH ROW WHEN (NEW.users = 0) EXECUTE FUNCTION score_counts_drop_empty();
