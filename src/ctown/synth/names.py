"""Word lists for the synthetic county: surnames, given-name characters, place-name syllables.

Own lists rather than Faker: the generator draws millions of names as array indices, which keeps it
vectorised and byte-for-byte deterministic across Faker releases.
"""

from __future__ import annotations

# Common surnames of northern Zhejiang, most frequent first (weights fall off with rank).
SURNAMES = list(
    "沈王徐张李陈吴朱钱姚杨周金胡施俞陆蒋孙许潘费莫顾褚方马郑黄赵刘叶郁邱计唐严宋曹丁范章汤"
    "韩姜凌闵卢倪袁夏钟林邵孟戴汪柏吕邹程虞洪史冯高谢魏丰傅")
MALE_CHARS = list(
    "伟强军建国明华平林峰杰斌海涛勇刚辉鹏超俊新德志宏文龙荣祥根福发金水松春宝永兴忠良"
    "建明中学晨浩宇轩博然")
FEMALE_CHARS = list(
    "芳娟英秀敏静丽燕玲红霞梅琴萍兰凤月珍美雪莉婷颖佳慧琳欣怡雅倩玉花菊云彩娥娣妹")
# Rare characters seen in real names (生僻字); 䶮 and 㛃 are CJK Extension A, outside GBK, so a
# household-register export in GBK cannot hold them and a reader must decode GB18030.
RARE_CHARS = list("䶮㛃喆堃淼犇赟昇鑫")
# Syllables with their pinyin, for township and village names (name_en is the pinyin).
PLACE_SYLLABLES: list[tuple[str, str]] = [
    ("青", "Qing"), ("山", "shan"), ("新", "Xin"), ("安", "an"), ("禹", "Yu"), ("越", "yue"),
    ("乾", "Qian"), ("元", "yuan"), ("武", "Wu"), ("康", "kang"), ("洛", "Luo"), ("舍", "she"),
    ("莫", "Mo"), ("干", "gan"), ("钟", "Zhong"), ("管", "guan"), ("阜", "Fu"), ("溪", "xi"),
    ("雷", "Lei"), ("甸", "dian"), ("筏", "Fa"), ("头", "tou"), ("下", "Xia"), ("渚", "zhu"),
    ("三", "San"), ("合", "he"), ("东", "Dong"), ("林", "lin"), ("高", "Gao"), ("桥", "qiao"),
    ("白", "Bai"), ("水", "shui"), ("红", "Hong"), ("星", "xing"), ("金", "Jin"), ("塘", "tang"),
    ("杨", "Yang"), ("墩", "dun"), ("和", "He"), ("平", "ping"), ("双", "Shuang"), ("庙", "miao"),
    ("上", "Shang"), ("柏", "bai"), ("南", "Nan"), ("湖", "hu"), ("北", "Bei"), ("港", "gang"),
    ("龙", "Long"), ("潭", "tan"), ("长", "Chang"), ("兴", "xing"), ("石", "Shi"), ("门", "men"),
    ("大", "Da"), ("竹", "zhu"), ("朱", "Zhu"), ("家", "jia"), ("沈", "Shen"), ("坞", "wu"),
]
TOWNSHIP_SUFFIX = [("镇", "Town"), ("乡", "Township")]
VILLAGE_SUFFIX = ("村", "Village")
COUNTY = ("330521000000", "清溪县", "Qingxi County")
BANK_BRANCHES = ["城关支行", "新市支行", "乾元支行", "禹越支行", "钟管支行", "洛舍支行"]
TAX_OFFICES = ["第一税务所", "第二税务所", "第三税务所"]
CASE_CAUSES = ["民间借贷纠纷", "买卖合同纠纷", "金融借款合同纠纷", "劳务合同纠纷", "租赁合同纠纷"]
INSURANCE_KINDS = ["水稻种植保险", "生猪养殖保险", "茶叶低温气象指数保险", "农房保险",
                   "农机具综合保险"]
HONOURS = ["文明家庭", "最美家庭", "五好家庭", "身边好人", "见义勇为"]
ENTITY_WORDS = ["绿野", "丰收", "稻香", "田园", "青禾", "金穗", "茶韵", "鱼米", "农兴", "禾丰",
                "云岭", "溪谷", "百果", "春晖", "秋实", "康农", "惠农", "富民", "瑞丰", "嘉禾"]
ENTITY_TRADES = ["种植", "养殖", "果蔬", "茶叶", "水产", "农机服务", "粮食", "生态农业"]
