/** The bundled English prompt set: instruction-style prompts and a held-out paragraph, written for Chat Vector Studio (CC0 1.0). */
import { BUILTIN_SOURCE, numbered } from './builtin-source.ts';
import type { PromptSet } from '../types.ts';

export const EN_PROMPTS: PromptSet = {
  id: 'builtin:en',
  name: 'English',
  lang: 'en',
  source: BUILTIN_SOURCE,
  prompts: numbered('en', [
    'Why do leaves change colour in autumn?',
    'Give me three tips for writing a clear email to a busy colleague.',
    'Explain in simple words how a vaccine trains the immune system.',
    'What should I pack for a two-day hiking trip? A short list is fine.',
    'How does compound interest work? Use an example with numbers.',
    'Suggest a simple dinner I can cook in twenty minutes with rice and eggs.',
    'What is the difference between weather and climate?',
    'Write a short thank-you note to a neighbour who watered my plants.',
    'How can I get better at remembering people\'s names?',
    'Explain why the Moon shows phases.',
    'List five ways to save energy at home.',
    'What are the pros and cons of working from home?',
    'Describe how bread dough rises, step by step.',
    'Write a four-line poem about the sea.',
    'How should I prepare for a job interview the night before?',
    'Why is sleep important for learning?',
    'What is a good way to start learning the guitar?',
    'Explain what a budget is and how to make a simple one.',
    'How do bees make honey?',
    'Give me advice on staying calm before speaking in public.',
  ]),
  heldOutText:
    'On the edge of our town there is a community garden that used to be an empty parking lot. ' +
    'A few neighbours started it one spring with borrowed tools and a handful of seeds, and now more than forty families share the small plots. ' +
    'In the mornings, retired teachers water their tomatoes while children look for snails under the leaves. ' +
    'Every plot is different: some grow beans and squash in neat rows, others let sunflowers and herbs mix freely. ' +
    'At the end of summer the gardeners hold a long lunch at a single table, where everyone brings something they have grown. ' +
    'Nobody gets rich from the garden, but people who once passed each other in silence now stop to talk about the weather and the soil.',
};
