# A reunion whose tone follows the relationship: run with examples/rules/reunion_context.json
IF social.relationshipValues.affinity >= 60 and flags.kept_promise THEN {
  SET moodFrom = "longing", moodTo = "joyful", pacing = slow
  INCLUDE callback_to_scene("farewell")
} ELSE IF social.relationshipValues.tension > 40 THEN {
  SET moodFrom = "guarded", moodTo = "tense", transitionType = abrupt
  CONSTRAINT AVOID embrace
} ELSE {
  SET moodTo = "polite"
}
DURATION 10-25s TARGET 15s
CONSTRAINT rating=PG
