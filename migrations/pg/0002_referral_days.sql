CREATE TABLE "referral_days" (
	"referrer_id" integer NOT NULL,
	"day" integer NOT NULL,
	"credited" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "referral_days_referrer_id_day_pk" PRIMARY KEY("referrer_id","day")
);
--> statement-breakpoint
ALTER TABLE "referral_days" ADD CONSTRAINT "referral_days_referrer_id_users_id_fk" FOREIGN KEY ("referrer_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;