/** The bundled Simplified Chinese prompt set: instruction-style prompts and a held-out paragraph, written for Chat Vector Studio (CC0 1.0). */
import { BUILTIN_SOURCE, numbered } from './builtin-source.ts';
import type { PromptSet } from '../types.ts';

export const ZH_HANS_PROMPTS: PromptSet = {
  id: 'builtin:zh-Hans',
  name: '简体中文 (Simplified Chinese)',
  lang: 'zh-Hans',
  source: BUILTIN_SOURCE,
  prompts: numbered('zh-Hans', [
    '为什么天空是蓝色的？请用简单的话解释。',
    '请推荐三本适合初学者阅读的历史书，并说明理由。',
    '怎样才能养成早睡早起的习惯？',
    '请写一段向新同事介绍自己的话。',
    '泡一杯好喝的绿茶需要注意哪些步骤？',
    '请列出去外地旅行前需要准备的五样东西。',
    '电动汽车和燃油汽车各有什么优点和缺点？',
    '请解释一下什么是通货膨胀，它对普通人的生活有什么影响。',
    '孩子不爱吃蔬菜，家长可以怎么办？',
    '请以“秋天”为题写一首四行的小诗。',
    '怎样在家里养好一盆绿萝？',
    '想学编程应该从哪里开始？请给一些建议。',
    '请比较一下坐高铁和坐飞机出行有什么不同。',
    '感冒的时候应该注意些什么？',
    '帮我写一条请假的短信，理由是家里有事。',
    '为什么要保护湿地？请说出几个理由。',
    '请介绍一下春节的主要习俗。',
    '怎样和意见不同的人进行有效的沟通？',
    '每天只有半小时锻炼时间，应该怎么安排？',
    '请简单说明月饼的来历。',
  ]),
  heldOutText:
    '我家楼下有一家开了二十多年的小面馆。每天清晨六点，老板就开始和面、熬汤，厨房里的蒸汽从窗户飘到街上。' +
    '来吃早饭的大多是附近的老住户，也有赶着上班的年轻人，他们常常站在门口，一边等面一边聊天。' +
    '老板记得很多客人的口味，谁不吃香菜，谁喜欢多加辣椒，他从来不会弄错。' +
    '前几年街道改造，周围的店铺换了一批又一批，只有这家面馆还在原来的地方。' +
    '有人问他为什么不搬到更热闹的商场里去，他笑着说，老街坊们习惯了这里的味道，搬走了，他们就找不到家了。',
};
