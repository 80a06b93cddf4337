/** The bundled Traditional Chinese prompt set: instruction-style prompts and a held-out paragraph, written for Chat Vector Studio (CC0 1.0). */
import { BUILTIN_SOURCE, numbered } from './builtin-source.ts';
import type { PromptSet } from '../types.ts';

export const ZH_HANT_PROMPTS: PromptSet = {
  id: 'builtin:zh-Hant',
  name: '繁體中文 (Traditional Chinese)',
  lang: 'zh-Hant',
  source: BUILTIN_SOURCE,
  prompts: numbered('zh-Hant', [
    '為什麼會有白天和黑夜？請簡單說明。',
    '請推薦幾種適合在家裡養的植物，並說明照顧的方法。',
    '第一次搭捷運的人需要注意哪些事情？',
    '請幫我寫一封感謝老師的短信。',
    '颱風來之前，家裡應該做好哪些準備？',
    '請解釋什麼是複利，並舉一個例子。',
    '怎樣挑選新鮮的水果？',
    '請列出五個能讓工作更有效率的小習慣。',
    '夜市有哪些常見的小吃？請介紹三種。',
    '請用三句話說明為什麼要多喝水。',
    '和朋友吵架之後，該怎麼和好？',
    '請說明端午節的由來和習俗。',
    '學習一種樂器有什麼好處？',
    '請寫一段介紹你家鄉的短文。',
    '長時間使用電腦，眼睛很累怎麼辦？',
    '請比較紙本書和電子書的優缺點。',
    '為什麼蜜蜂對農業很重要？',
    '請給準備考試的學生一些減輕壓力的建議。',
    '泡一壺烏龍茶的步驟是什麼？',
    '如果想開始寫日記，可以怎麼做才能持續下去？',
  ]),
  heldOutText:
    '小鎮的河邊有一座舊的碾米廠，已經停工很多年了。小時候，我常常跟著祖父去那裡，看工人把一袋袋稻穀倒進機器，空氣中飄著米糠的味道。' +
    '後來稻田越來越少，工廠也就慢慢安靜下來。去年，幾位從城市回來的年輕人把它整理成一間小書店兼咖啡館，保留了原來的木頭樑柱和生鏽的機器。' +
    '週末的下午，常常有一家人坐在窗邊看書，孩子們在門口的空地上追著貓跑。' +
    '祖父去看過一次，他摸著那台老機器，說這裡終於又有了人聲，比什麼都好。' +
    '那天傍晚，我們沿著河堤慢慢走回家，晚風裡好像又聞到了小時候米糠的香氣。',
};
