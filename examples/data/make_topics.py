"""Write topics.csv, topics_new.csv and topics_support.csv: short texts on four clearly separated topics.

For examples/text_minilm.yaml, ``lamina classify`` and ``lamina embed``. Each text is generated from a
topic's own word lists (people, things, actions, places) placed in one of many everyday sentence frames
shared by all topics, so the frame says nothing about the topic and the words vary a lot: with 20 labelled
texts per topic most test texts hold words never seen in training, which is where a pretrained encoder
helps. topics.csv: 400 labelled texts (100 per topic, shuffled); topics_new.csv: 8 unlabelled ones;
topics_support.csv: 5 labelled examples per topic (a few-shot support set, not in topics.csv).
Fixed seeds, Python's standard library only:

    python examples/data/make_topics.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORDS = {
    "sports": {
        "who": ["the striker", "our goalkeeper", "the coach", "the referee", "the captain", "the sprinter",
                "the quarterback", "the tennis champion", "the boxer", "the cyclist", "the swimmer",
                "the relay team", "the hockey squad", "the pitcher", "the midfielder", "the golfer",
                "the wrestler", "the rowing crew", "the fans", "the league", "the umpire", "the marathon runner"],
        "did": ["scored a late goal", "won the championship", "missed a penalty", "broke the world record",
                "lost the final", "was sent off", "signed a new contract", "won gold at the olympics",
                "finished the race in second place", "hit a home run", "threw a touchdown pass",
                "saved a penalty kick", "was injured during training", "qualified for the playoffs",
                "won the match in straight sets", "knocked out the defending champion",
                "celebrated a hat trick", "was transferred to a rival club", "crossed the finish line first"],
        "where": ["at the stadium", "on the pitch", "in the tournament", "at the arena", "on the track",
                  "in the second half", "in overtime", "at the world cup", "in the league season",
                  "on the court", "at the race", "in the locker room"],
    },
    "cooking": {
        "who": ["the chef", "my grandmother", "the baker", "our cook", "the pastry chef", "the waiter",
                "the food critic", "the kitchen staff", "my uncle", "the restaurant owner", "the butcher",
                "the cheesemaker", "the home cook", "the caterer", "the sous chef"],
        "did": ["baked a loaf of sourdough bread", "simmered the tomato sauce", "roasted a chicken with garlic",
                "whisked the eggs with sugar", "chopped onions and carrots", "fried the potatoes in butter",
                "seasoned the soup with salt and pepper", "made fresh pasta", "grilled the salmon fillets",
                "marinated the beef overnight", "kneaded the dough for the pizza", "melted the chocolate",
                "served a spicy curry with rice", "prepared a salad with olive oil", "stirred the risotto",
                "tasted the stew", "iced the birthday cake", "cooked noodles with vegetables",
                "sliced the cucumbers for pickling"],
        "where": ["in the kitchen", "at the restaurant", "for dinner", "for breakfast", "at the bakery",
                  "in the oven", "on the stove", "for the dessert", "in a frying pan", "at the food market",
                  "for the lunch menu", "in a cast iron pot"],
    },
    "technology": {
        "who": ["the programmer", "the software engineer", "the developer", "our IT department",
                "the hacker", "the data scientist", "the startup", "the system administrator",
                "the chip maker", "the app designer", "the tech company", "the network engineer",
                "the security team", "the robotics lab", "the cloud provider"],
        "did": ["fixed a bug in the code", "released a software update", "installed a new server",
                "upgraded the laptop's memory", "patched a security vulnerability", "launched a smartphone app",
                "rebooted the router", "migrated the database to the cloud", "wrote a python script",
                "trained a neural network", "compiled the program", "encrypted the hard drive",
                "designed a faster processor", "built a website", "configured the firewall",
                "backed up the files", "debugged the operating system", "replaced the graphics card",
                "connected the printer over wifi"],
        "where": ["in the data center", "on the computer", "on the web server", "in the source code",
                  "on the phone", "in the cloud", "on the network", "in the new software version",
                  "on the tablet", "in the browser", "on the motherboard", "in the app store"],
    },
    "weather": {
        "who": ["the forecast", "the meteorologist", "the weather service", "the storm", "the cold front",
                "the heatwave", "the hurricane", "the fog", "the thunderstorm", "the blizzard", "the wind",
                "the monsoon", "the frost", "the drought", "the tornado"],
        "did": ["brought heavy rain", "dropped the temperature below freezing", "predicted snow showers",
                "caused flooding", "brought strong gusts of wind", "left frost on the ground",
                "raised the humidity", "brought clear sunny skies", "issued a storm warning",
                "covered the hills in snow", "made the air hot and dry", "brought hail and lightning",
                "cleared the clouds away", "brought drizzle and mist", "pushed temperatures to record highs",
                "made the roads icy", "blew down trees", "brought a chilly breeze", "kept the sky overcast"],
        "where": ["this morning", "over the weekend", "along the coast", "in the mountains", "overnight",
                  "across the region", "in the valley", "this afternoon", "during the night",
                  "for the next three days", "in the north", "all week"],
    },
}

FRAMES = [
    "{who} {did} {where}.",
    "Yesterday {who} {did} {where}.",
    "Everyone said that {who} {did} {where}.",
    "I read that {who} {did} {where}.",
    "Apparently {who} {did} {where} again.",
    "Last week {who} {did} {where}.",
    "My friend told me {who} {did} {where}.",
    "It was a surprise when {who} {did} {where}.",
    "According to the news, {who} {did} {where}.",
    "Nobody expected that {who} {did} {where}.",
]


def text(topic: str, rng: random.Random) -> str:
    """One generated sentence on ``topic``: a shared frame filled with the topic's own words."""
    words = WORDS[topic]
    sentence = rng.choice(FRAMES).format(who=rng.choice(words["who"]), did=rng.choice(words["did"]),
                                         where=rng.choice(words["where"]))
    return sentence[0].upper() + sentence[1:]


def labelled(per_topic: int, seed: int) -> list[tuple[str, str]]:
    """``per_topic`` distinct texts of each topic, shuffled."""
    rng = random.Random(seed)
    rows = []
    for topic in WORDS:
        seen: set[str] = set()
        while len(seen) < per_topic:
            seen.add(text(topic, rng))
        rows += [(t, topic) for t in sorted(seen)]
    rng.shuffle(rows)
    return rows


def write(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> None:
    """Write one CSV file with a header row."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    """Write the three files next to this script."""
    rows = labelled(100, seed=0)
    write(HERE / "topics.csv", ["text", "topic"], rows)
    taken = {t for t, _ in rows}
    extra = [(t, y) for t, y in labelled(40, seed=1) if t not in taken]
    support = []
    for topic in WORDS:
        support += [r for r in extra if r[1] == topic][:5]
    write(HERE / "topics_support.csv", ["text", "topic"], support)
    fresh = [t for t, y in extra if (t, y) not in support][:8]
    write(HERE / "topics_new.csv", ["text"], [(t,) for t in fresh])


if __name__ == "__main__":
    main()
