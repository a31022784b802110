"""Word banks and line templates for the built-in text provider, and how request words become phrases.

Everything here is plain data, written for a narrative designer to read and extend. Every line is
PG-safe; `RATED_PG13_IMAGERY` holds the few lines that are only used at PG-13 and above, and
`G_BLOCKED_WORDS` names words that never appear in G-rated output unless a node requires them.

Template fields (a line whose field cannot be filled is skipped):
    {place} / {Place}: the location as a noun phrase ("the rooftop garden"), capitalised for `{Place}`.
    {adj}: an adjective of the beat's mood ("warm"); for an unknown mood, the mood word itself.
    {from_adj} / {to_adj}: adjectives of the mood a transition leaves and the one it reaches.
    {other}: the name of the other speaker in a conversation.
    {mood}: the mood word itself (generic lines for moods this book does not know).
    {words}: an element's words ("glass of wine"); {sentence}: a finished element line.
    {state}: a scene's emotional state, in words ("anxious but hopeful").

A scene's summary is never a field: it describes the scene to the designer and is not a line to read out.
In a line with {place}, `[feels|feel]` picks the verb that agrees with the place: "the corner cafe feels",
"the city rooftops feel".
"""

from __future__ import annotations

import re
from functools import lru_cache

# The banks are packed several entries to a row so the whole book reads on a few screens; ruff format would
# give every entry its own row and more than double the module's length.
# fmt: off
MOOD_ALIASES: dict[str, str] = {
    "romance": "romantic", "love": "romantic", "tender": "romantic", "flirty": "playful", "excited": "joyful",
    "happy": "joyful", "joy": "joyful", "elated": "joyful", "cheerful": "joyful", "peaceful": "calm",
    "serene": "calm", "content": "calm", "relaxed": "calm", "anxious": "tense", "suspense": "tense",
    "suspenseful": "tense", "tension": "tense", "uneasy": "tense", "relieved": "relief", "sadness": "sad",
    "sorrow": "sad", "grief": "sad", "grieving": "sad", "mystery": "mysterious", "eerie": "mysterious",
    "uncanny": "mysterious", "resolute": "determined", "focused": "determined", "thoughtful": "reflective",
    "pensive": "reflective", "scared": "fearful", "afraid": "fearful", "fear": "fearful", "dread": "fearful",
    "horror": "fearful", "furious": "angry", "anger": "angry", "rage": "angry", "mischievous": "playful",
    "fun": "playful", "hope": "hopeful", "optimistic": "hopeful", "nostalgic": "melancholic",
    "wistful": "melancholic", "melancholy": "melancholic", "action": "intense", "urgent": "intense",
    "dramatic": "intense",
}

MOOD_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "romantic": ("warm", "tender", "golden", "soft", "hushed"),
    "intense": ("sharp", "charged", "electric", "taut", "blazing"),
    "calm": ("quiet", "gentle", "still", "peaceful", "unhurried"),
    "tense": ("tight", "watchful", "brittle", "uneasy", "wound-up"),
    "relief": ("light", "easy", "unclenched", "warm", "gentle"),
    "sad": ("grey", "heavy", "hollow", "muted", "dim"),
    "joyful": ("bright", "lively", "golden", "buoyant", "radiant"),
    "mysterious": ("strange", "veiled", "shadowed", "uncanny", "hushed"),
    "determined": ("steady", "resolute", "clear", "focused", "firm"),
    "reflective": ("quiet", "pensive", "hushed", "dreamlike", "distant"),
    "fearful": ("cold", "dark", "threatening", "uneasy", "chilled"),
    "angry": ("hot", "harsh", "bristling", "raw", "sharp"),
    "playful": ("lively", "mischievous", "bright", "teasing", "light"),
    "hopeful": ("fresh", "bright", "open", "new", "gentle"),
    "neutral": ("ordinary", "plain", "steady", "even", "unremarkable"),
    "melancholic": ("faded", "wistful", "dim", "bittersweet", "muted"),
}

MOOD_IMAGERY: dict[str, tuple[str, ...]] = {
    "romantic": (
        "Warm light pools between them, soft as a held breath.",
        "The city hums low, as if it is keeping their secret.", "A hand brushes a hand, and neither pulls away.",
        "Candlelight catches the edge of a shy smile.", "The air smells of rain and something sweeter.",
        "Every small sound seems to lean closer.", "Laughter fades into a quieter, warmer silence.",
        "The evening goes golden at the edges.", "A glance lingers one heartbeat too long.",
    ),
    "intense": (
        "Everything sharpens: every edge, every sound.", "The air crackles like a wire pulled tight.",
        "Heartbeats drum louder than the room.", "Light flares hard and white, then steadies.",
        "No one breathes. No one blinks.", "The floor seems to tilt toward the moment.",
        "Voices rise, then cut off all at once.", "Seconds stretch thin enough to snap.",
        "Pressure builds behind every word left unsaid.",
    ),
    "calm": (
        "The light softens to the colour of honey.", "A slow breeze moves through, unhurried.",
        "Somewhere, water laps gently at stone.", "The world exhales and settles.",
        "Dust drifts lazily through a beam of sun.", "Quiet spreads like warm water.",
        "Leaves whisper to each other, then go still.", "Even the clock seems to tick more gently.",
        "Nothing needs to happen yet, and that is enough.",
    ),
    "tense": (
        "The silence stretches thin as wire.", "A floorboard creaks, and everyone freezes.",
        "Shadows pool in the corners, waiting.", "Every small sound lands too loudly.",
        "Breath held, a gaze flicks to the door.", "The air feels wound tight, ready to snap.",
        "Somewhere a tap drips, counting the seconds.", "Nobody moves first.",
        "A light flickers, steadies, flickers again.",
    ),
    "relief": (
        "Shoulders drop as the breath finally comes.", "The tight knot of the moment comes loose.",
        "Light spills back in, ordinary and kind.", "Someone laughs, shaky but real.",
        "The room seems larger now, and warmer.", "A long exhale, and the world steadies.",
        "The danger passes like weather.", "Hands stop trembling, one finger at a time.",
        "It's over. It's really over.",
    ),
    "sad": (
        "Grey light sits heavy on everything.", "Rain traces slow lines down the glass.",
        "An empty chair says what no one will.", "The quiet aches more than any sound.",
        "The colour seems to drain from the room.", "A half-finished cup of tea goes cold.",
        "Words start, falter, and fall away.", "Somewhere a door closes softly, for good.",
        "The world keeps moving, careless and slow.",
    ),
    "joyful": (
        "Sunlight tumbles in, bright and generous.", "Laughter spills over like a tipped glass.",
        "Everything seems to sparkle at the edges.", "Music bubbles up from somewhere nearby.",
        "The air tastes of summer and sugar.", "Even the walls seem to grin.",
        "A cheer goes up and spreads like wildfire.", "Colours feel louder, warmer, closer.",
        "Feet want to dance before the music starts.",
    ),
    "mysterious": (
        "Fog curls at the edges of the light.", "A door stands ajar that was closed a moment ago.",
        "Symbols no one remembers carving mark the wall.", "Somewhere, a tune plays with no one playing it.",
        "The shadows seem to be listening.", "Footprints lead in, but none lead out.",
        "A faint glow pulses beneath the floorboards.", "The clocks here disagree about the hour.",
        "Something just out of sight keeps its distance.",
    ),
    "determined": (
        "Boots find the ground, steady and sure.", "A jaw sets; the decision is made.",
        "The path ahead is narrow, and it will do.", "Hands tighten around what must be done.",
        "The wind pushes back; they push harder.", "Every step lands with purpose.",
        "The horizon stops looking so far away.", "Fear is still there. It just isn't steering.",
        "A deep breath, squared shoulders, forward.",
    ),
    "reflective": (
        "Old memories drift up like dust in lamplight.", "The window holds a faint, familiar reflection.",
        "Time slows, turning over what was.", "A photograph's edges have gone soft with handling.",
        "Quiet settles in, asking its questions softly.", "The past feels close enough to touch.",
        "Thoughts circle back to where it all began.", "Rain on the glass keeps an old rhythm.",
        "Some answers only come in stillness.",
    ),
    "fearful": (
        "Something shifts in the dark, just out of sight.", "Every instinct whispers: run.",
        "The lights stutter, and the dark leans in.", "A scrape sounds from somewhere it shouldn't.",
        "Breath comes shallow and too fast.", "Cold creeps up from the floor.",
        "The hallway seems longer than it was.", "A shape in the window is gone at a second look.",
        "Silence, and then something answers it.",
    ),
    "angry": (
        "Heat rises, fast and red.", "A door swings shut hard enough to rattle the frame.",
        "Words come out sharper than intended.", "The air burns with everything unsaid.",
        "Knuckles whiten around the edge of the table.", "Breath hisses out through clenched teeth.",
        "The room shrinks around the argument.", "Every small sound feels like an insult.",
        "A cup is set down a little too hard.",
    ),
    "playful": (
        "A grin tugs at the corner of a mouth.", "Somewhere, someone is clearly up to something.",
        "Sunlight skips across the floor like a thrown pebble.", "A stifled laugh escapes anyway.",
        "The moment tips toward mischief.", "Even the breeze seems to be teasing.", "A wink, a dare, a step closer.",
        "Nobody is taking this seriously, and it's perfect.", "A paper plane sails past and lands askew.",
    ),
    "hopeful": (
        "A thin line of dawn edges the horizon.", "The first light touches everything gently.",
        "Somewhere, a window opens to fresh air.", "Green shoots push up through the cracks.",
        "The clouds thin, and blue shows through.", "A small smile, tentative but real.",
        "The road ahead looks, for once, walkable.", "Birdsong starts up, one voice, then many.",
        "Maybe. Just maybe.",
    ),
    "neutral": (
        "The moment passes at its own pace.", "Ordinary sounds fill the space: steps, voices, a distant door.",
        "Light falls evenly, asking nothing.", "People come and go on their own errands.",
        "The day carries on, steady and indifferent.", "A breeze stirs, then settles.",
        "Time moves forward, one breath at a time.", "The scene waits, patient and plain.",
        "Nothing remarkable, and yet something begins.",
    ),
    "melancholic": (
        "Late light fades the colours to sepia.", "An old song plays, half-remembered.",
        "Leaves drift down, one by one.", "The streets feel emptier than they should.",
        "A coat still hangs where it always did.", "Echoes of old laughter linger in an empty room.",
        "Rain softens the world into watercolour.", "What was lost keeps a quiet place at the table.",
        "The tea has gone cold again.",
    ),
}

# Used only at PG-13 and above: mild peril a younger audience should not get by default.
RATED_PG13_IMAGERY: dict[str, tuple[str, ...]] = {
    "intense": ("Blood roars in the ears, drowning out the room.",),
    "fearful": ("A scream cuts off somewhere far below.",),
    "angry": ("A fist comes down on the table, rattling everything.",),
    "tense": ("Somewhere, glass shatters, and then silence.",),
}

G_BLOCKED_WORDS: tuple[str, ...] = (
    "blood", "scream", "fist", "wine", "beer", "whiskey", "knife", "gun", "weapon", "drunk",
)

# For moods the book does not know; {mood} is the mood word itself, used as an adjective.
GENERIC_IMAGERY: tuple[str, ...] = (
    "Something {mood} settles over everything.", "The air itself turns {mood}.",
    "Light and shadow shift, quietly {mood}.", "Colours deepen into something {mood}.",
    "Even the silence feels {mood}.", "It is hard to say when it all became so {mood}.",
    "Breath by breath, the moment grows {mood}.", "Every sound carries a {mood} edge.",
)

GENERIC_SPEECH: tuple[str, ...] = (
    "I can't explain it. Everything feels so {mood}.", "Is it just me, {other}, or is this all a little {mood}?",
    "Funny. I didn't expect it to feel this {mood}.", "Let's not pretend this isn't {mood}.",
    "Do you feel it too? Something {mood}.", "Strange day. Strange, {mood} day.",
)

MOOD_SPEECH: dict[str, tuple[str, ...]] = {
    "romantic": (
        "I'm glad it's you here. Only you.", "Stay a little longer?", "{other}, you're staring.",
        "I didn't plan this. Any of it.", "Say that again. Slower.", "You make the quiet feel easy.",
    ),
    "intense": (
        "We don't have time for this!", "Look at me. Focus.", "It's now or never, {other}.",
        "Everything rides on the next minute.", "Whatever happens, don't let go.", "Go. Go now!",
    ),
    "calm": (
        "Let's just sit for a while.", "No rush. We've got time.", "It's nice, isn't it? The quiet.",
        "Breathe, {other}. It's alright.", "I could stay like this all evening.", "Nothing to fix tonight.",
    ),
    "tense": (
        "Did you hear that?", "Keep your voice down.", "Something's not right, {other}.", "Don't move. Not yet.",
        "Who else knows we're here?", "Tell me the truth. Now.",
    ),
    "relief": (
        "We made it. We actually made it.", "I thought I'd lost you, {other}.", "Okay. Okay. Breathe.",
        "I can't stop shaking, and I don't care.", "Never do that to me again.", "It's over. It's finally over.",
    ),
    "sad": (
        "I keep expecting them to walk in.", "I don't know what to say, {other}.",
        "It shouldn't have ended like this.", "Can we just not talk for a minute?", "I miss how it used to be.",
        "I'm fine. I'm not fine.",
    ),
    "joyful": (
        "Can you believe it? We did it!", "This is the best day, {other}!", "Come here, you have to see this!",
        "I haven't laughed like this in years.", "Let's remember this exactly as it is.",
        "Everything's going right for once!",
    ),
    "mysterious": (
        "Have you noticed the clocks here?", "This place remembers things, {other}.",
        "Someone was here before us. Recently.", "Don't read it out loud.", "That door wasn't there yesterday.",
        "Some questions answer back.",
    ),
    "determined": (
        "We finish this. Today.", "I'm not turning back, {other}.", "Whatever it takes.",
        "Tell me the plan again. All of it.", "They think we'll quit. Let's prove them wrong.",
        "One step at a time, but we keep stepping.",
    ),
    "reflective": (
        "Do you ever think about where it started?", "I was someone else back then, {other}.",
        "Funny, what you remember.", "Maybe we were always headed here.", "I'd do some of it differently. Not all.",
        "Give me a moment. I'm remembering.",
    ),
    "fearful": (
        "Please tell me you saw that.", "We shouldn't be here, {other}.", "Stay close. Don't let go.",
        "What was that noise?", "I want to leave. Now.", "It knows we're here. I can feel it.",
    ),
    "angry": (
        "Don't you dare walk away from me!", "You knew, {other}. You knew all along.",
        "I'm done pretending this is fine.", "Say it to my face.", "That's not an apology.", "I trusted you.",
    ),
    "playful": (
        "Race you there. Loser buys dessert.", "Oh, you think you're funny, {other}?",
        "Relax, I have a completely terrible plan.", "Shh. Act natural.", "You're smiling. I saw that.", "Dare you.",
    ),
    "hopeful": (
        "Maybe this time it'll work.", "I think we're going to be okay, {other}.", "Look. The sky's clearing.",
        "It's a start. A real one.", "Tomorrow could be different.", "I'm not giving up on us.",
    ),
    "neutral": (
        "So. Where were we?", "Let's keep moving, {other}.", "Anything I should know?", "Right. What's next?",
        "Fair enough.", "We'll see how it goes.",
    ),
    "melancholic": (
        "We used to come here all the time.", "It's still beautiful, {other}. Just quieter.",
        "Remember how loud this place used to be?", "Some things don't come back.",
        "I still have the old photos. I don't know why.", "It feels like an ending, doesn't it?",
    ),
}

PLACE_LINES: tuple[str, ...] = (
    "{Place} [feels|feel] {adj} now.", "Light shifts across {place}, {adj} and slow.",
    "{Place} [settles|settle] into something {adj}.", "Every inch of {place} seems {adj}.",
    "The air around {place} turns {adj}.", "Sounds carry strangely across {place}, {adj} and close.",
)

PLACE_OPENERS: tuple[str, ...] = (
    "{Place}. Everything here feels {adj}.", "[This is|These are] {place}: {adj}, for now.",
    "{Place} [opens|open] out, {adj} at every edge.", "{Place}, {adj} in the fading light.",
)

PLACE_SPEECH: tuple[str, ...] = (
    "{Place} [looks|look] different today, [doesn't it|don't they]?", "Of all places, we end up at {place}.",
    "I keep thinking about {place}.", "Funny. {Place} used to feel smaller.",
)

SENSE_LINES: tuple[str, ...] = (
    "The light here is {adj}, falling in long slants.", "Sounds arrive muffled and {adj}.",
    "The air smells of dust and something {adj}.", "Underfoot, the ground feels {adj} and worn.",
    "Shadows gather, {adj}, in the corners of {place}.", "Stillness hangs over {place}, {adj} and complete.",
    "Far off, something hums, low and {adj}.", "The air against the skin feels {adj}.",
)

# After a scene the request has no emotional state for: what happened is felt, not retold.
AFTERMATH_LINES: tuple[str, ...] = (
    "What just happened still hangs in the air.", "Nobody is quite past what just happened.",
    "It is hard to shake off the last few minutes.",
)

STATE_LINES: tuple[str, ...] = (
    "Everything still feels {state}.", "Underneath it all, everyone is still {state}.",
    "Still {state}, underneath it all.",
)

BRIDGE_LINES: tuple[str, ...] = (
    "The {from_adj} edge of it softens; something {to_adj} creeps in.",
    "Slowly, what felt {from_adj} turns {to_adj}.", "Between one breath and the next, the mood turns {to_adj}.",
    "The {from_adj} air thins, and something {to_adj} takes its place.",
)

# Every cut line starts with "Cut", so a reader can find the turn; the last entries are for nodes that avoid "cut".
CUT_LINES: tuple[str, ...] = (
    "Cut. Everything changes at once.", "Cut. One breath, and the world is {to_adj}.",
    "Cut, and without warning it all turns {to_adj}.",
)
CUT_TO_PLACE: tuple[str, ...] = ("Cut to {place}: suddenly, everything is {adj}.", "Cut to {place}.")
SUDDEN_LINES: tuple[str, ...] = ("Suddenly, everything changes.", "Without warning, the moment snaps.")

ELEMENT_NARRATION: dict[str, tuple[str, ...]] = {
    "phone_ring": ("A phone rings somewhere, shrill against the quiet.", "The phone rings once, twice, then stops."),
    "phone": ("A phone buzzes face-down on the table.", "The phone lights up, then goes dark."),
    "rain": ("Rain needles the windows.", "Soft rain begins to fall."),
    "thunder": ("Thunder rolls somewhere far off.", "A low roll of thunder shakes the glass."),
    "storm": ("The storm throws rain against the glass.", "Outside, the storm gathers itself."),
    "wind": ("Wind worries at the shutters.", "A gust of wind rattles the old frames."),
    "footsteps": ("Footsteps echo down the hall, then stop.", "Slow footsteps pass overhead."),
    "door_knock": ("A knock at the door: three slow raps.", "Someone knocks at the door, then waits."),
    "door_slam": ("A door slams somewhere below.", "The door slams, and the frames rattle."),
    "music": ("Faint music drifts from another room.", "Music swells, then softens."),
    "piano": ("Someone plays a few soft notes on a piano.", "A piano plays somewhere, slow and unsure."),
    "candle": ("A candle gutters, throwing long shadows.", "A single candle burns low on the sill."),
    "candlelight": ("Candlelight trembles on the walls.",),
    "fire": ("The fire pops and settles in the grate.", "Firelight dances, and the fire crackles on."),
    "fireplace": ("The fireplace glows low and orange.",),
    "clock": ("A clock counts the seconds, loud in the hush.", "The old clock on the wall ticks on."),
    "clock_tick": ("The clock ticks, steady and patient.",),
    "ticking_clock": ("A ticking clock fills the silence.",),
    "church_bell": ("Church bells ring out across the rooftops.",),
    "bell": ("A bell tolls once, far away.", "A small bell chimes above the door."),
    "ocean": ("The ocean breathes in and out below.", "Beyond the window, the ocean glitters."),
    "waves": ("Waves break softly against the shore.",),
    "sea": ("The sea glitters under a low sky.",),
    "birdsong": ("Birdsong spills through an open window.",),
    "birds": ("Birds scatter from the eaves.", "A pair of birds settles on the railing."),
    "dog_bark": ("A dog barks twice in the distance.",),
    "car_horn": ("A car horn blares from the street below.",),
    "train": ("A train rattles past, far off.",),
    "train_whistle": ("A train whistle calls through the night.",),
    "traffic": ("Traffic hums steadily beyond the glass.",),
    "laughter": ("Laughter spills in from another room.",),
    "letter": ("An unopened letter waits on the table.", "A folded letter sits half-hidden under a book."),
    "photograph": ("A faded photograph leans against the lamp.",),
    "coffee": ("The smell of fresh coffee lingers.", "Two cups of coffee sit cooling, untouched."),
    "tea": ("Steam curls from a forgotten cup of tea.",),
    "flowers": ("A vase of flowers brightens the sill.",),
    "roses": ("A bunch of red roses waits on the table.",),
    "moon": ("The moon hangs low and bright.",),
    "sunrise": ("The sunrise spills pink across the sky.",),
    "dawn": ("Dawn creeps grey over the rooftops.",),
    "snow": ("Snow falls, soft and soundless.",),
    "fog": ("Fog presses close against the windows.",),
    "mist": ("Mist hangs low over the ground.",),
    "key": ("A key turns slowly in the lock.",),
    "mirror": ("The mirror throws back a tired reflection.",),
    "radio": ("A radio murmurs softly in the corner.",),
    "heartbeat": ("A heartbeat thuds, loud in the hush.",),
    "silence": ("Silence settles like dust.",),
    "kiss": ("A kiss, brief and unplanned.",),
    "kiss_callback": (
        "Neither of them mentions the kiss, but it is there between them.",
        "The memory of that kiss surfaces, uninvited.", "A glance, and they are both thinking of the kiss.",
    ),
    "last_look": (
        "One last look back, and then it is done.", "A last look over the shoulder, longer than it needs to be.",
    ),
    "sunset": ("The sunset paints everything amber.", "The sun sinks low, and the sky goes copper."),
    "moonlight": ("Moonlight silvers the floorboards.", "The moonlight finds the edges of everything."),
    "hug": ("A long hug, and neither lets go first.",),
    "embrace": ("An embrace, sudden and fierce.",),
    "holding_hands": ("Without a word, they end up holding hands.",),
    "tears": ("Tears come, quiet and unhurried.",),
    "smile": ("A small smile breaks through.",),
    "city_lights": ("City lights flicker on, one by one.",),
    "streetlight": ("A streetlight buzzes and flickers outside.",),
    "window": ("Pale light slants through the window.",),
}

ELEMENT_SPEECH: dict[str, tuple[str, ...]] = {
    "phone_ring": ("Your phone rings again. Are you getting that?", "Is that your phone ringing?"),
    "kiss_callback": ("Are we going to talk about the kiss?", "About that kiss. I keep thinking about it."),
    "last_look": ("Let me take one last look.", "Just one last look, and then we go."),
    "embrace": ("Come here. I mean it. A real hug.",),
    "laughter": ("Listen to you laugh. I missed that.",),
    "rain": ("Listen to that rain.",),
    "thunder": ("That thunder is getting closer.",),
    "footsteps": ("Someone's coming. Hear the footsteps?",),
    "door_knock": ("Was that a knock at the door?",),
    "music": ("Do you hear that music?",),
    "letter": ("You haven't opened the letter yet.",),
    "coffee": ("Your coffee's gone cold.",),
    "clock": ("Look at the clock. We're late.",),
    "snow": ("It's snowing. Look at the snow.",),
}

# For elements the book has no phrasing for; {words} is the element in plain words (`lexicon.spoken_form`:
# `glass_of_wine` -> "glass of wine", `kiss_callback` -> "kiss"), never the id.
GENERIC_ELEMENT_NARRATION: tuple[str, ...] = (
    "Eyes drift to the {words}, and linger.", "For a moment, everything narrows to the {words}.",
    "There, at the edge of it all: the {words}.", "Nobody mentions the {words}, but everyone sees it.",
)
GENERIC_ELEMENT_SPEECH: tuple[str, ...] = (
    "Did you notice the {words}?", "I keep thinking about the {words}.", "Don't act like you missed the {words}.",
)
# For elements the book phrases as narration only; {sentence} is that narration.
SPOKEN_WRAPPERS: tuple[str, ...] = ("Wait. {sentence}", "Hold on. {sentence}")

NAMES: tuple[str, ...] = (
    "Mara", "Jonah", "Elise", "Theo", "Ines", "Cal", "Nadia", "Rowan", "Sol", "Petra", "Idris", "Lena", "Felix",
    "Juno", "Ansel", "Priya",
)

NPC_TONE_LINES: dict[str, tuple[str, ...]] = {
    "warm": (
        "It's good to see you. Really good.", "I was hoping you'd come by.", "You look like you could use a friend.",
        "Sit, sit. Tell me everything.", "I saved you a spot, you know.", "Whatever you need, just ask.",
    ),
    "intimate": (
        "There you are. I was starting to miss you.", "Come here. Stay a while.",
        "You're the best part of my day, you know that?", "I feel like I can tell you anything.",
        "Don't go just yet.", "Every time you walk in, I forget what I was saying.",
    ),
    "guarded": (
        "What do you want?", "I'm listening. Make it quick.", "You'll forgive me if I don't take your word for it.",
        "Let's keep this simple.", "I've heard that before.", "Maybe. We'll see.",
    ),
    "hostile": (
        "You've got some nerve coming here.", "Say what you came to say, then go.", "I don't owe you anything.",
        "Not another step closer.", "We're done talking.", "After what you did? No.",
    ),
    "neutral": (
        "Oh. Hello.", "Can I help you with something?", "Busy day. What's on your mind?", "Sure, I have a minute.",
        "Hm. Go on.", "Didn't expect you, but alright.",
    ),
}

# The tone an NPC takes in a mood when the relationship does not decide it; other moods are "neutral".
MOOD_TONES: dict[str, str] = {
    "angry": "guarded", "tense": "guarded", "fearful": "guarded", "mysterious": "guarded", "romantic": "warm",
    "joyful": "warm", "playful": "warm", "hopeful": "warm", "relief": "warm", "calm": "warm",
}

# Player replies, one bank per stance; a conversation offers one reply from each of 2-4 stances.
CHOICE_STANCES: dict[str, tuple[str, ...]] = {
    "open": ("I'm here. Tell me.", "I'm with you.", "Of course. Go on."),
    "probe": ("What aren't you telling me?", "Wait, what do you mean?", "How long have you known?"),
    "deflect": ("Let's not do this right now.", "Can we talk about something else?", "Sure. Whatever you say."),
    "leave": ("I need some air.", "I should go.", "Let's pick this up later."),
}

# fmt: on


def mood_key(label: str) -> str | None:
    """The book's mood for a normalised mood label (`happy` -> "joyful"), None when it has none."""
    return label if label in MOOD_IMAGERY else MOOD_ALIASES.get(label)


@lru_cache(maxsize=4096)
def place_phrase(location: str | None) -> str | None:
    """A location id as a noun phrase: `rooftop_garden` -> "the rooftop garden"; "Paris" keeps its capitals.

    Remembered per location: every request of a node asks it of the same scenes several times."""
    words = " ".join((location or "").replace("_", " ").replace("-", " ").split())
    if not words or words != words.lower() or words.startswith("the "):
        return words or None
    return f"the {words}"


# Plural nouns that do not end in a plain "s".
_IRREGULAR_PLURALS = frozenset({"people", "children", "men", "women", "feet", "teeth", "mice", "geese", "police"})
# Singular nouns that do end in one.
_S_SINGULARS = frozenset({"news", "series", "species", "canvas", "atlas", "bus", "gas", "lens", "chaos", "oasis"})


def is_plural(phrase: str) -> bool:
    """Whether a noun phrase names several things: "the city rooftops" yes, "the glass", "Paris" no."""
    words = phrase.split()
    last = words[-1].lower() if words else ""
    if last in _IRREGULAR_PLURALS:
        return True
    if last in _S_SINGULARS or not words[-1].islower():  # a proper name ("Paris", "Athens") is one place
        return False
    return last.endswith("s") and not last.endswith(("ss", "us", "is"))


def place_fields(place: str) -> dict[str, str]:
    """The template fields for a place: {place}, {Place}, and the number its verbs agree with."""
    return {"place": place, "Place": place[:1].upper() + place[1:], "_plural": "yes" if is_plural(place) else ""}


_AGREEMENT = re.compile(r"\[([^|\]]*)\|([^\]]*)\]")


@lru_cache(maxsize=8192)
def agree(template: str, *, plural: bool) -> str:
    """A template with each `[singular|plural]` choice made for a place of this number (`_plural` of
    `place_fields`); made once per template and number (the same few hundred fill every request)."""
    return _AGREEMENT.sub(lambda m: m.group(2 if plural else 1), template)


def disagrees(line: str, plural_subject: str) -> bool:
    """True when a sentence opens on a plural subject and a singular verb follows ("The city rooftops settles").

    Only a subject that opens a sentence (or a spoken line) is checked: in "the air around the old docks
    turns", the subject is the air.
    """
    subject = re.escape(plural_subject)
    pattern = rf"(?:^|[.!?:]\s+){subject}\s+(is|was|has|does|[a-z]+[^s\W]s)\b"
    return re.search(pattern, line, re.IGNORECASE) is not None


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=4096)
def sentences(text: str) -> tuple[str, ...]:
    """The sentences of a line, normalised for comparison: "Okay. Okay. Breathe." -> ("okay.", "okay.", "breathe.").

    Remembered per line: the composer asks it of every candidate line of every pick."""
    return tuple(" ".join(s.lower().split()) for s in _SENTENCE_END.split(text.strip()) if s.strip())


def display_name(npc_id: str) -> str | None:
    """An NPC id as a name to print: `npc_marla` -> "Marla"; ids spelled as names keep their capitals."""
    parts = [p for p in re.split(r"[_\-\s]+", npc_id) if p and p.lower() != "npc" and not p.isdigit()]
    return " ".join(p[:1].upper() + p[1:] for p in parts) or None
