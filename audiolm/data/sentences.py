"""A small English sentence generator: varied, reproducible text for the synthetic corpus."""
from __future__ import annotations

import random
import zlib

NAMES = ("Anna Ben Clara David Emma Frank Grace Henry Isla Jack Kate Leo Maria Noah Olivia Peter Rosa Sam "
         "Tara Victor Wendy Yusuf Zoe Oscar Nina Hugo Lucy Martin Ella Thomas").split()
ADJECTIVES = ("small large old young quiet loud bright dark warm cold heavy light green red blue yellow "
              "happy tired clever gentle strange famous empty busy narrow wide soft rough sweet bitter "
              "ancient modern golden silver wooden hidden broken careful curious friendly").split()
NOUNS = ("house river garden window teacher doctor village mountain letter story table kitchen forest "
         "station market bridge ship train bird horse dog cat apple bottle candle picture music song "
         "street island valley lamp basket mirror castle farmer painter sailor student neighbour "
         "engine clock pocket ladder blanket orchard harbour lantern meadow journey").split()
VERBS_PAST = ("found opened painted carried watched followed visited built cleaned answered borrowed "
              "described remembered noticed dropped repaired packed counted pushed pulled washed "
              "discovered admired ignored wrapped lifted").split()
VERBS_INTRANSITIVE = ("slept laughed waited smiled arrived vanished whispered trembled shouted wandered "
                      "listened danced travelled rested worked").split()
PLACES = ("near the river|behind the old station|under the bridge|in the quiet garden|at the market|"
          "on the hill|beside the lake|across the street|inside the castle|by the harbour|"
          "in the kitchen|along the narrow road").split("|")
TIMES = ("yesterday|this morning|last winter|after dinner|before sunrise|on Sunday|every evening|"
         "in the spring|at midnight|a long time ago|later that day|during the storm").split("|")
NUMBERS = "two three four five six seven eight nine ten twelve twenty fifty".split()


def _noun_phrase(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return rng.choice(NAMES)
    if roll < 0.35:
        return f"{rng.choice(NUMBERS)} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}s"
    article = rng.choice(("the", "a", "my", "our", "their", "this"))
    if article == "a":
        adjective = rng.choice(ADJECTIVES)
        article = "an" if adjective[0] in "aeiou" else "a"
        return f"{article} {adjective} {rng.choice(NOUNS)}"
    return f"{article} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}" if rng.random() < 0.6 \
        else f"{article} {rng.choice(NOUNS)}"


def sentence(rng: random.Random) -> str:
    """One sentence from a handful of templates (statements, questions, exclamations)."""
    template = rng.randrange(7)
    subject, obj = _noun_phrase(rng), _noun_phrase(rng)
    if template == 0:
        text = f"{subject} {rng.choice(VERBS_PAST)} {obj} {rng.choice(PLACES)}."
    elif template == 1:
        text = f"{rng.choice(TIMES)}, {subject} {rng.choice(VERBS_INTRANSITIVE)} {rng.choice(PLACES)}."
    elif template == 2:
        text = f"Did {subject} really see {obj} {rng.choice(TIMES)}?"
    elif template == 3:
        text = f"{subject} said that {obj} was {rng.choice(ADJECTIVES)} and {rng.choice(ADJECTIVES)}."
    elif template == 4:
        text = f"When {subject} {rng.choice(VERBS_INTRANSITIVE)}, {obj} {rng.choice(VERBS_INTRANSITIVE)} too."
    elif template == 5:
        text = f"What a {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} that was!"
    else:
        text = f"Please bring {obj} to {rng.choice(NAMES)} {rng.choice(TIMES)}."
    return text[0].upper() + text[1:]


def is_heldout_sentence(text: str, fraction: float = 0.1) -> bool:
    """A stable split by content: the same sentence is always on the same side."""
    return zlib.crc32(text.encode()) % 1000 < fraction * 1000


def sentences(rng: random.Random, heldout: bool, count: int, fraction: float = 0.1) -> list[str]:
    out = []
    while len(out) < count:
        text = sentence(rng)
        if is_heldout_sentence(text, fraction) == heldout:
            out.append(text)
    return out
