"""Write topics.csv, topics_new.csv and topics_support.csv: short texts on four clearly separated topics.

For examples/text_minilm.yaml, ``lamina classify`` and ``lamina embed``. Each text puts two things of
one topic (drawn from about 70 per topic: sports, cooking, technology, weather) into one of many everyday
sentence frames that all topics share, so the frame says nothing about the topic and the topic's words
vary a lot: with 20 labelled texts per topic most test texts hold topic words never seen in training,
which is where a pretrained encoder helps and a model trained from scratch cannot.
topics.csv: 400 labelled texts (100 per topic, shuffled); topics_new.csv: 8 unlabelled ones;
topics_support.csv: 5 labelled examples per topic (a few-shot support set, not in topics.csv).
Fixed seeds, Python's standard library only:

    python examples/data/make_topics.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

THINGS = {
    "sports": """the penalty kick|the offside rule|the final whistle|the league table|the hat trick|the slam dunk|
the touchdown|the home run|the free throw|the corner kick|the red card|the yellow card|the goalkeeper|the striker|
the marathon|the sprint final|the relay race|the high jump|the pole vault|the javelin throw|the hurdles|
the boxing match|the knockout punch|the wrestling bout|the tennis serve|the match point|the tiebreak|
the golf swing|the hole in one|the cycling stage|the yellow jersey|the ski slalom|the ice hockey game|
the power play|the cricket innings|the wicket|the batting order|the pitcher's mound|the stolen base|
the quarterback|the playoffs|the championship trophy|the world cup|the olympic gold medal|the referee|
the coach's tactics|the transfer window|the team captain|the stadium crowd|the season opener|
the rowing regatta|the swimming relay|the diving board|the decathlon|the rugby scrum|the volleyball spike|
the badminton rally|the fencing duel|the judo throw|the karate belt|the skateboard trick|the surfing contest|
the horse race|the grand prix|the pit stop|the chess tournament|the dart board|the bowling strike|
the goal difference|the extra time""",
    "cooking": """the sourdough bread|the tomato sauce|the roast chicken|the garlic butter|the chocolate cake|
the pancake batter|the vegetable soup|the beef stew|the fresh pasta|the risotto|the lasagna|the omelette|
the pizza dough|the apple pie|the lemon tart|the vanilla custard|the whipped cream|the olive oil|
the balsamic vinegar|the black pepper|the sea salt|the chopped onions|the grated cheese|the cinnamon rolls|
the blueberry muffins|the grilled salmon|the fried rice|the noodle broth|the curry paste|the coconut milk|
the spice rack|the mixing bowl|the frying pan|the baking tray|the rolling pin|the kitchen knife|the oven mitts|
the recipe book|the dinner menu|the breakfast eggs|the lunch sandwich|the dessert course|the herb marinade|
the barbecue ribs|the mashed potatoes|the green salad|the salad dressing|the soy sauce|the ginger root|
the sushi rolls|the dumplings|the tortilla wraps|the guacamole|the hummus|the roasted vegetables|
the baked beans|the cheese board|the fruit smoothie|the espresso|the herbal tea|the bread crumbs|
the steak marinade|the caramel sauce|the pastry cream|the yeast|the cookie dough|the stir fry|
the seafood paella|the meatballs|the gravy""",
    "technology": """the laptop|the smartphone|the software update|the operating system|the web browser|
the database server|the cloud storage|the source code|the python script|the compiler|the memory leak|
the security patch|the firewall|the password manager|the wifi router|the bluetooth headphones|the usb cable|
the graphics card|the processor|the motherboard|the hard drive|the solid state drive|the keyboard|
the touchscreen|the app store|the mobile app|the website|the search engine|the email client|the spreadsheet|
the printer driver|the virtual machine|the data center|the neural network|the machine learning model|
the robot arm|the smartwatch|the tablet|the video game console|the encryption key|the login page|
the user interface|the bug report|the code review|the programming language|the open source library|
the network cable|the ethernet port|the battery charger|the microchip|the semiconductor factory|
the backup drive|the computer virus|the antivirus software|the two factor login|the api|the server rack|
the download speed|the internet connection|the streaming service|the digital camera|the gpu cluster|
the linux kernel|the command line|the text editor|the software developer|the chatbot|the 3d printer|
the smart speaker|the fiber optic line""",
    "weather": """the thunderstorm|the heavy rain|the snowfall|the blizzard|the heatwave|the cold front|
the warm front|the weather forecast|the hurricane|the tornado|the hailstorm|the morning fog|the drizzle|
the frost|the freezing rain|the lightning|the thunder|the strong wind|the gusts of wind|the humidity|
the drought|the flood warning|the monsoon|the rainbow|the overcast sky|the clear blue sky|the sunshine|
the high pressure system|the low pressure system|the temperature drop|the record temperature|the dew point|
the wind chill|the snowstorm|the sleet|the icy roads|the cloud cover|the rain showers|the storm warning|
the meteorologist|the barometer|the weather radar|the tropical storm|the cyclone|the typhoon|the sea breeze|
the autumn chill|the spring showers|the summer heat|the winter storm|the snow drifts|the black ice|
the mist|the dust storm|the sandstorm|the lightning strike|the rainfall total|the ultraviolet index|
the pollen count|the air pressure|the thermometer|the weather station|the climate outlook|the cold snap|
the mild spell|the dry spell|the downpour|the puddles|the cloudburst|the hail""",
}

FRAMES = [
    "My neighbour could not stop talking about {a} and {b}.",
    "Yesterday I read a long article about {a} and {b}.",
    "The whole conversation at lunch was about {a} and {b}.",
    "She wrote a short note on {a} and {b}.",
    "We spent the evening arguing about {a} and {b}.",
    "Everyone in the office was discussing {a} and {b}.",
    "The podcast this week covered {a} and {b}.",
    "He asked me what I think of {a} and {b}.",
    "The news report mentioned {a} and {b}.",
    "I keep thinking about {a} and {b}.",
    "My sister sent me a message about {a} and {b}.",
    "Our teacher gave a talk on {a} and {b}.",
    "There was a question about {a} and {b} on the radio.",
    "They made a video about {a} and {b}.",
    "Nobody could explain {a} or {b} to me.",
    "Today's post is all about {a} and {b}.",
]


def things(topic: str) -> list[str]:
    """The topic's things, one per entry of its word list."""
    return [t.strip() for t in THINGS[topic].replace("\n", "").split("|")]


def text(topic: str, rng: random.Random) -> str:
    """One generated sentence on ``topic``: a shared frame holding two of the topic's things."""
    a, b = rng.sample(things(topic), 2)
    return rng.choice(FRAMES).format(a=a, b=b)


def labelled(per_topic: int, seed: int) -> list[tuple[str, str]]:
    """``per_topic`` distinct texts of each topic, shuffled."""
    rng = random.Random(seed)
    rows = []
    for topic in THINGS:
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
    for topic in THINGS:
        support += [r for r in extra if r[1] == topic][:5]
    write(HERE / "topics_support.csv", ["text", "topic"], support)
    fresh = [t for t, y in extra if (t, y) not in support][:8]
    write(HERE / "topics_new.csv", ["text"], [(t,) for t in fresh])


if __name__ == "__main__":
    main()
