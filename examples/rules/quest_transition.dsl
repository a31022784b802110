# Spec section 11, as written: the transition after the quest offer adapts to the player's answer.
# Try: dyngen dsl compile examples/rules/quest_transition.dsl --context examples/rules/quest_accepted.json
IF player_choice.quest_accept == true
  THEN moodTo = "determined" pacing = "fast"
ELSE
  THEN moodTo = "reflective" pacing = "slow"
INCLUDE callback_to_scene("kiss")
DURATION 20-40s TARGET 30s
CONSTRAINT rating=PG-13 AVOID violence
