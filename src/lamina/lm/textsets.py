"""A small labelled text set written for lamina: 120 sentences on four topics, for few- and zero-shot tests.

Each sentence was written by hand for this set (no template), 30 per topic; the
topics are described in words by :data:`TOPIC_DESCRIPTIONS` for zero-shot use.
"""

from __future__ import annotations

TOPIC_DESCRIPTIONS = {
    "sports": "This text is about sports, games, athletes and competitions.",
    "cooking": "This text is about food, cooking, recipes and eating.",
    "technology": "This text is about computers, software, phones and technology.",
    "weather": "This text is about the weather, rain, wind, temperature and the forecast.",
}

_SPORTS = """The striker scored twice in the second half to win the match.
Our team lost the final on penalties after extra time.
She ran the marathon in just under three hours.
The coach benched his captain for missing training.
He hit a home run in the bottom of the ninth inning.
The tennis final went to five sets before the champion prevailed.
They qualified for the playoffs for the first time in a decade.
The goalkeeper saved three shots in the shootout.
The cyclist attacked on the final climb and won the stage.
Our basketball team needs a taller center next season.
The referee showed a red card in the first minute.
She set a new national record in the 400 metre hurdles.
The quarterback threw four touchdown passes on Sunday.
Fans filled the stadium to watch the derby.
He trains in the pool for two hours every morning.
The boxer was knocked down in the third round but got back up.
The league suspended the player for five games.
Our club signed a young midfielder from Brazil.
The relay team dropped the baton on the last exchange.
The golfer sank a long putt on the eighteenth hole to win the tournament.
The hockey game went to overtime after a late equalizer.
She won gold in the slalom at the winter games.
The batsman was caught at slip for a duck.
The umpire called the runner out at second base.
The rowing crew trained on the river before dawn.
The wrestler pinned his opponent in under a minute.
The team's defence conceded only ten goals all season.
He finished third in the triathlon despite a flat tyre.
The volleyball squad won the championship in straight sets.
The manager was sacked after six defeats in a row."""

_COOKING = """Add the garlic to the pan and fry it until golden.
Knead the dough for ten minutes, then let it rise.
This soup needs more salt and a squeeze of lemon.
Preheat the oven to 180 degrees before baking the cake.
She makes the best lasagna with fresh pasta sheets.
Whisk the eggs and sugar until pale and fluffy.
The restaurant serves grilled fish with roasted vegetables.
Simmer the tomato sauce for an hour to deepen the flavour.
I had pancakes with maple syrup for breakfast.
Chop the onions finely and sweat them in butter.
The curry was too spicy for the children.
Marinate the chicken overnight in yogurt and spices.
Let the steak rest for five minutes before slicing it.
We baked chocolate chip cookies for the party.
Season the salad with olive oil, vinegar and black pepper.
The bread came out of the oven with a crisp crust.
He stirred the risotto slowly, adding stock a ladle at a time.
Dessert was a warm apple pie with vanilla ice cream.
Roast the potatoes until they are crisp on the outside.
The recipe calls for two cups of flour and a pinch of salt.
She sliced the cucumbers and pickled them in brine.
Dinner tonight is noodles with stir-fried beef and broccoli.
Melt the chocolate gently over a pan of hot water.
Grill the peppers until the skins blacken, then peel them.
The chef tasted the sauce and added a little more cream.
Boil the rice for twelve minutes and let it steam.
We ate sushi and miso soup at the little place downtown.
Fold the berries into the batter just before baking.
The stew tastes even better the next day.
Spread butter on the toast and top it with jam."""

_TECHNOLOGY = """My laptop keeps crashing whenever I open the browser.
The new phone has a faster processor and a better camera.
Install the update to fix the security vulnerability.
The server went down because the disk was full.
He wrote a Python script to rename the files automatically.
The app needs access to your location to work.
Our website loads slowly on mobile devices.
She upgraded the computer's memory to thirty-two gigabytes.
The software release was delayed by a bug in the database code.
Restart the router if the wifi connection drops.
The company moved its data to the cloud last year.
This keyboard connects over Bluetooth to the tablet.
The program compiles but throws an error at runtime.
Back up your files before you reinstall the operating system.
The graphics card overheats when I play games for hours.
A new chip makes the smartwatch's battery last longer.
The developers fixed the memory leak in version two.
Two-factor authentication protects your account from hackers.
The printer driver is not compatible with the latest system.
He built a robot that sorts recycling using a camera and a neural network.
The network engineer configured the firewall rules.
Search engines index billions of web pages.
My email client stopped syncing after the update.
The startup released an open source library for data analysis.
Charge the headphones with a USB-C cable.
The code review found three bugs in the login function.
The spreadsheet formula returns an error for empty cells.
Virtual machines let us run several operating systems on one server.
The hard drive failed and we lost a week of work.
Engineers are testing the self-driving software on city streets."""

_WEATHER = """It will rain heavily tomorrow afternoon.
Strong winds brought down trees across the region.
The forecast says sunny skies and warm temperatures all week.
Snow is expected overnight in the mountains.
Temperatures dropped below freezing last night.
A thunderstorm is moving in from the west.
It has been humid and hot for days.
Fog made driving difficult early this morning.
The heatwave broke records across the country.
Bring an umbrella, the clouds look threatening.
A hurricane is approaching the coast with powerful winds.
The drought has lasted for three dry summers.
Light showers will clear by the evening.
There was frost on the car windows this morning.
The meteorologists issued a flood warning for the valley.
A cold front will bring cooler air on Thursday.
Hailstones the size of marbles fell during the storm.
The wind chill makes it feel ten degrees colder.
Tomorrow will be cloudy with a chance of drizzle.
The sky cleared and the sun came out after lunch.
Blizzard conditions closed the highway over the pass.
The monsoon rains arrived early this year.
It is a mild, breezy spring day.
Lightning struck a tower during last night's storm.
Humidity will stay high with scattered showers.
A tornado touched down near the farm.
The autumn has been unusually warm and dry.
Icy roads are likely after the freezing rain.
Gusts of up to ninety kilometres an hour are forecast.
The temperature will climb to thirty degrees on Saturday."""

TOPICS: list[tuple[str, str]] = [
    (sentence, label)
    for label, block in (("sports", _SPORTS), ("cooking", _COOKING), ("technology", _TECHNOLOGY),
                         ("weather", _WEATHER))
    for sentence in block.splitlines()
]
