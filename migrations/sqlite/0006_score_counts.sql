CREATE TABLE `score_counts` (
	`score` integer PRIMARY KEY NOT NULL,
	`users` integer DEFAULT 0 NOT NULL
);
