//+------------------------------------------------------------------+
//|                                          Tradestate/Wire.mqh     |
//| The exact bytes sent to the Tradestate gateway: the field table  |
//| of each update kind, the number rule, an update as JSON (a batch |
//| entry and a queue log line) and as a RESP command (HSET ris:{ID} |
//| / HSET rts:{ID}:<ticket> / HSET rts:{ID}:positions / XADD        |
//| rtss:signals *), and reading a JSON line back into a record.     |
//|                                                                  |
//| This file mirrors mt5-bridge/src/wire.rs. The Rust test          |
//| mt5-bridge/tests/mql5_source.rs parses the TS_*_FIELDS tables,   |
//| the limits, TS_NUMBER_MAX_DECIMALS and the number samples below  |
//| and fails when they differ from the Rust side. Keep the #define  |
//| lines on one line each.                                          |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_WIRE_MQH
#define TRADESTATE_WIRE_MQH

#include "Json.mqh"

//--- Field tables, in encoding order: "name:type" or "name:type?" (optional).
//--- Types: int (decimal), num (TsNumber), text (quoted in JSON), bool (JSON true/false, RESP 1/0).
#define TS_INSTANCE_FIELDS "seq:int time_msc:int login:int server:text company:text? currency:text leverage:int balance:num credit:num equity:num profit:num margin:num margin_free:num margin_level:num connected:bool trade_allowed:bool ping_us:int build:int positions:int orders:int ea_version:text?"
#define TS_TRADE_FIELDS "seq:int ticket:text time_msc:int time_update_msc:int symbol:text type:text volume:num price_open:num price_current:num sl:num tp:num profit:num swap:num commission:num magic:int comment:text? state:text time_close_msc:int? price_close:num?"
#define TS_SIGNAL_FIELDS "seq:int signal_id:text time_msc:int strategy:text symbol:text action:text volume:num? price:num? sl:num? tp:num? magic:int? comment:text?"
#define TS_POSITIONS_FIELDS "seq:int time_msc:int tickets:text"

//--- Numbers: fixed notation, the fewest decimals (0..TS_NUMBER_MAX_DECIMALS) that read back as
//--- the same double; zero as "0". NaN and infinities have no wire form at all.
#define TS_NUMBER_MAX_DECIMALS 16
//--- The gateway's default policy.rtss_stream.
#define TS_SIGNAL_STREAM "rtss:signals"

//--- Contract limits (mt5-bridge limits.rs): text fields and ids, in characters.
#define TS_MAX_STRING_LEN 256
#define TS_MAX_ID_LEN 64
//--- signal_id: letters, digits and these.
#define TS_SIGNAL_ID_EXTRA "._:-"
//--- The only signal actions (SignalAction).
#define TS_SIGNAL_ACTIONS "buy sell close"
//--- Trade state `type` and `state` values (contract 1.1): positions and pending orders.
#define TS_TRADE_TYPES "buy sell buy_limit sell_limit buy_stop sell_stop buy_stop_limit sell_stop_limit"
#define TS_TRADE_STATES "open closed pending cancelled filled"
//--- Most tickets one positions snapshot may list.
#define TS_SNAPSHOT_MAX_TICKETS 5000

//--- Update kinds.
#define TS_KIND_INSTANCE  0
#define TS_KIND_TRADE     1
#define TS_KIND_SIGNAL    2
#define TS_KIND_POSITIONS 3
#define TS_KIND_COUNT     4

//--- Field types.
#define TS_INT  0
#define TS_NUM  1
#define TS_TEXT 2
#define TS_BOOL 3

//--- Number rule samples: TsSelfTest() checks TsNumber() against them in the terminal, the Rust
//--- test checks them against wire_number().
double TS_NUMBER_SAMPLES[] = {0.0, -0.0, 1.0, 0.1, 1.07512, 10250.37, -0.45, 1000000000000000.0, 0.0000001, 0.3333333333333333, 4787.43, 61.7, -1.75, 0.25, 1.08129};
string TS_NUMBER_TEXTS[]   = {"0", "0", "1", "0.1", "1.07512", "10250.37", "-0.45", "1000000000000000", "0.0000001", "0.3333333333333333", "4787.43", "61.7", "-1.75", "0.25", "1.08129"};

//+------------------------------------------------------------------+
//| One kind's parsed field table                                    |
//+------------------------------------------------------------------+
struct TsTable
  {
   string            names[];
   int               types[];
   bool              optional[];
  };

TsTable g_ts_tables[TS_KIND_COUNT];
bool    g_ts_tables_ready=false;

//+------------------------------------------------------------------+
//| Parses one "name:type[?] ..." table                              |
//+------------------------------------------------------------------+
void TsTableParse(const string spec,TsTable &table)
  {
   string items[];
   int count=StringSplit(spec,(ushort)' ',items);
   ArrayResize(table.names,count);
   ArrayResize(table.types,count);
   ArrayResize(table.optional,count);
   for(int i=0;i<count;i++)
     {
      string parts[];
      StringSplit(items[i],(ushort)':',parts);
      string type=(ArraySize(parts)>1) ? parts[1] : "text";
      table.optional[i]=(StringFind(type,"?")>=0);
      StringReplace(type,"?","");
      table.names[i]=parts[0];
      table.types[i]=(type=="int") ? TS_INT : (type=="num") ? TS_NUM : (type=="bool") ? TS_BOOL : TS_TEXT;
     }
  }

void TsTablesLoad(void)
  {
   if(g_ts_tables_ready)
      return;
   TsTableParse(TS_INSTANCE_FIELDS,g_ts_tables[TS_KIND_INSTANCE]);
   TsTableParse(TS_TRADE_FIELDS,g_ts_tables[TS_KIND_TRADE]);
   TsTableParse(TS_SIGNAL_FIELDS,g_ts_tables[TS_KIND_SIGNAL]);
   TsTableParse(TS_POSITIONS_FIELDS,g_ts_tables[TS_KIND_POSITIONS]);
   g_ts_tables_ready=true;
  }

string TsKindName(const int kind)
  {
   if(kind==TS_KIND_INSTANCE)
      return("instance");
   if(kind==TS_KIND_TRADE)
      return("trade");
   if(kind==TS_KIND_POSITIONS)
      return("positions");
   return("signal");
  }

int TsKindFromName(const string name)
  {
   if(name=="instance")
      return(TS_KIND_INSTANCE);
   if(name=="trade")
      return(TS_KIND_TRADE);
   if(name=="signal")
      return(TS_KIND_SIGNAL);
   if(name=="positions")
      return(TS_KIND_POSITIONS);
   return(-1);
  }

//--- `word` is one of the space-separated words of `list`.
bool TsWordIn(const string word,const string list)
  {
   if(word=="" || StringFind(word," ")>=0)
      return(false);
   return(StringFind(" "+list+" "," "+word+" ")>=0);
  }

//+------------------------------------------------------------------+
//| A double as the wire writes it (mt5-bridge wire_number); "" for  |
//| NaN and infinities, which the setters refuse before this.        |
//+------------------------------------------------------------------+
string TsNumber(const double value)
  {
   if(value==0.0)
      return("0");
   if(!MathIsValidNumber(value))
      return("");
   for(int decimals=0;decimals<=TS_NUMBER_MAX_DECIMALS;decimals++)
     {
      string text=DoubleToString(value,decimals);
      if(StringToDouble(text)==value)
         return(text);
     }
   return(DoubleToString(value,TS_NUMBER_MAX_DECIMALS));
  }

//+------------------------------------------------------------------+
//| A ulong in decimal (tickets are 64-bit unsigned)                 |
//+------------------------------------------------------------------+
string TsULongToString(ulong value)
  {
   if(value==0)
      return("0");
   string text="";
   while(value>0)
     {
      text=CharToString((uchar)('0'+(int)(value%10)))+text;
      value/=10;
     }
   return(text);
  }

//--- Decimal digits to ulong; 0 when not a number.
ulong TsStringToULong(const string text)
  {
   ulong value=0;
   int length=StringLen(text);
   if(length==0 || length>20)
      return(0);
   for(int i=0;i<length;i++)
     {
      ushort c=StringGetCharacter(text,i);
      if(c<'0' || c>'9')
         return(0);
      value=value*10+(ulong)(c-'0');
     }
   return(value);
  }

//+------------------------------------------------------------------+
//| Text without control characters (the gateway refuses them)       |
//+------------------------------------------------------------------+
string TsCleanText(const string text)
  {
   string out=text;
   int length=StringLen(out);
   for(int i=0;i<length;i++)
     {
      ushort c=StringGetCharacter(out,i);
      if(c<0x20 || (c>=0x7F && c<=0x9F))
         StringSetCharacter(out,i,(ushort)' ');
     }
   return(out);
  }

//+------------------------------------------------------------------+
//| A JSON string: quote and backslash escaped, control characters   |
//| as \u00xx (record values never have any: TsCleanText; reasons    |
//| from the gateway written to the .dead file may).                 |
//+------------------------------------------------------------------+
string TsJsonQuote(const string text)
  {
   string out=text;
   StringReplace(out,"\\","\\\\");
   StringReplace(out,"\"","\\\"");
   int length=StringLen(out);
   bool controls=false;
   for(int i=0;i<length && !controls;i++)
      controls=(StringGetCharacter(out,i)<0x20);
   if(controls)
     {
      string escaped="";
      for(int i=0;i<length;i++)
        {
         ushort c=StringGetCharacter(out,i);
         if(c<0x20)
            escaped+=StringFormat("\\u%04x",c);
         else
            escaped+=ShortToString(c);
        }
      out=escaped;
     }
   return("\""+out+"\"");
  }

//+------------------------------------------------------------------+
//| UTF-8 bytes of a string, without the terminating zero            |
//+------------------------------------------------------------------+
int TsUtf8(const string text,uchar &bytes[])
  {
   int count=StringToCharArray(text,bytes,0,-1,CP_UTF8);
   if(count>0 && bytes[count-1]==0)
      count--;
   ArrayResize(bytes,MathMax(count,0));
   return(MathMax(count,0));
  }

int TsUtf8Length(const string text)
  {
   uchar bytes[];
   return(TsUtf8(text,bytes));
  }

//+------------------------------------------------------------------+
//| RESP array of bulk strings                                       |
//+------------------------------------------------------------------+
string TsRespArray(const string &args[],const int count)
  {
   string out="*"+IntegerToString(count)+"\r\n";
   for(int i=0;i<count;i++)
      out+="$"+IntegerToString(TsUtf8Length(args[i]))+"\r\n"+args[i]+"\r\n";
   return(out);
  }

//+------------------------------------------------------------------+
//| One update: values in wire text, by field table position         |
//+------------------------------------------------------------------+
class TsRecord
  {
public:
   int               kind;
   string            values[];
   bool              present[];
   string            error;

                     TsRecord(void) { kind=-1; error=""; }

   //--- Starts an empty record of a kind.
   void              Start(const int record_kind)
     {
      TsTablesLoad();
      kind=(record_kind>=0 && record_kind<TS_KIND_COUNT) ? record_kind : -1;
      error=(kind<0) ? "unknown kind" : "";
      int count=(kind<0) ? 0 : ArraySize(g_ts_tables[kind].names);
      ArrayResize(values,count);
      ArrayResize(present,count);
      for(int i=0;i<count;i++)
        {
         values[i]="";
         present[i]=false;
        }
     }

   //--- A copy of another record (records hold arrays: no assignment operator).
   void              CopyFrom(const TsRecord &other)
     {
      kind=other.kind;
      error=other.error;
      ArrayResize(values,ArraySize(other.values));
      ArrayResize(present,ArraySize(other.present));
      for(int i=0;i<ArraySize(values);i++)
        {
         values[i]=other.values[i];
         present[i]=other.present[i];
        }
     }

   int               Field(const string name) const
     {
      if(kind<0)
         return(-1);
      int count=ArraySize(g_ts_tables[kind].names);
      for(int i=0;i<count;i++)
         if(g_ts_tables[kind].names[i]==name)
            return(i);
      return(-1);
     }

   //--- Setters: false (and error set, so Complete() refuses the record) when the field is not in
   //--- the kind's table, has another type, or the number is NaN or infinite.
   bool              Int(const string name,const long value)    { return(Put(name,TS_INT,IntegerToString(value))); }
   bool              UInt(const string name,const ulong value)  { return(Put(name,TS_INT,TsULongToString(value))); }
   bool              Num(const string name,const double value)  { return(MathIsValidNumber(value) ? Put(name,TS_NUM,TsNumber(value)) : Refuse(name,"is not a finite number")); }
   bool              Text(const string name,const string value) { return(Put(name,TS_TEXT,TsCleanText(value))); }
   bool              Bool(const string name,const bool value)   { return(Put(name,TS_BOOL,value ? "1" : "0")); }
   void              Clear(const string name)                   { int i=Field(name); if(i>=0) present[i]=false; }

   string            Value(const string name) const
     {
      int i=Field(name);
      return((i>=0 && present[i]) ? values[i] : "");
     }

   bool              Has(const string name) const
     {
      int i=Field(name);
      return(i>=0 && present[i]);
     }

   long              Seq(void) const { return(StringToInteger(Value("seq"))); }

   //--- Every required field is set (and no setter failed).
   bool              Complete(void)
     {
      if(kind<0)
        {
         if(error=="")
            error="no kind";
         return(false);
        }
      if(error!="")
         return(false);
      int count=ArraySize(values);
      for(int i=0;i<count;i++)
         if(!present[i] && !g_ts_tables[kind].optional[i])
           {
            error=TsKindName(kind)+": missing field "+g_ts_tables[kind].names[i];
            return(false);
           }
      return(true);
     }

   //--- The batch entry and the queue log line: {"kind":"trade","seq":1,...}
   string            Json(void) const
     {
      if(kind<0)
         return("");
      string out="{\"kind\":"+TsJsonQuote(TsKindName(kind));
      int count=ArraySize(values);
      for(int i=0;i<count;i++)
        {
         if(!present[i])
            continue;
         out+=","+TsJsonQuote(g_ts_tables[kind].names[i])+":";
         int type=g_ts_tables[kind].types[i];
         if(type==TS_TEXT)
            out+=TsJsonQuote(values[i]);
         else
            if(type==TS_BOOL)
               out+=(values[i]=="1") ? "true" : "false";
            else
               out+=values[i];
        }
      return(out+"}");
     }

   //--- The key a RESP command writes (the stale push names it); "" for signals.
   string            RespKey(const string instance_id) const
     {
      if(kind==TS_KIND_INSTANCE)
         return("ris:{"+instance_id+"}");
      if(kind==TS_KIND_TRADE)
         return("rts:{"+instance_id+"}:"+Value("ticket"));
      if(kind==TS_KIND_POSITIONS)
         return("rts:{"+instance_id+"}:positions");
      return("");
     }

   //--- The RESP command for a terminal authenticated as instance_id.
   string            Resp(const string instance_id,const string stream) const
     {
      string args[];
      int count=ArraySize(values);
      ArrayResize(args,3+2*count);
      int n=0;
      if(kind==TS_KIND_SIGNAL)
        {
         args[n++]="XADD";
         args[n++]=stream;
         args[n++]="*";
        }
      else
        {
         args[n++]="HSET";
         args[n++]=RespKey(instance_id);
        }
      for(int i=0;i<count;i++)
        {
         if(!present[i])
            continue;
         args[n++]=g_ts_tables[kind].names[i];
         args[n++]=values[i];
        }
      return(TsRespArray(args,n));
     }

   //--- Fills the record from a parsed queue line (an object node): the kind from "kind", each
   //--- field of that kind's table by name; unknown members are ignored, so a later table reads
   //--- older lines. False (and error) when a member has the wrong JSON type or a field is missing.
   bool              FromJson(const TsJson &json,const int node)
     {
      kind=-1;
      if(node<0 || node>=json.count || json.types[node]!=TS_J_OBJECT)
        {
         error="not a JSON object";
         return(false);
        }
      int parsed_kind=TsKindFromName(json.Text(node,"kind"));
      if(parsed_kind<0)
        {
         error="no known \"kind\"";
         return(false);
        }
      Start(parsed_kind);
      int count=ArraySize(values);
      for(int i=0;i<count && error=="";i++)
        {
         string name=g_ts_tables[kind].names[i];
         int member=json.Member(node,name);
         if(member<0 || json.types[member]==TS_J_NULL)
            continue;
         int jtype=json.types[member];
         string literal=json.texts[member];
         switch(g_ts_tables[kind].types[i])
           {
            case TS_INT:
               if(jtype!=TS_J_NUMBER || !TsJsonIsInteger(literal))
                  error=name+" is not an integer";
               else
                  Put(name,TS_INT,literal);
               break;
            case TS_NUM:
               if(jtype!=TS_J_NUMBER)
                  error=name+" is not a number";
               else
                  Num(name,StringToDouble(literal));
               break;
            case TS_BOOL:
               if(jtype!=TS_J_TRUE && jtype!=TS_J_FALSE)
                  error=name+" is not true or false";
               else
                  Bool(name,jtype==TS_J_TRUE);
               break;
            default:
               if(jtype!=TS_J_STRING)
                  error=name+" is not a string";
               else
                  Text(name,literal);
           }
        }
      return(Complete());
     }

   bool              FromJsonText(const string line)
     {
      TsJson json;
      if(!json.Parse(line))
        {
         kind=-1;
         error=json.error;
         return(false);
        }
      return(FromJson(json,0));
     }

   //--- Reads a line of a library 1.0 queue file (<id>.queue): kind, then per field of the 1.0
   //--- table "=" + value or the absent mark \x1E, separated by \x1F. Only used once, when a lane
   //--- adopts those files; 1.0 had no positions kind and its tables are the ones above.
   bool              FromLegacyLine(const string line)
     {
      string parts[];
      int count=StringSplit(line,(ushort)0x1F,parts);
      int parsed_kind=(count>0) ? TsKindFromName(parts[0]) : -1;
      if(parsed_kind<0 || parsed_kind==TS_KIND_POSITIONS)
        {
         kind=-1;
         error="not a 1.0 queue line";
         return(false);
        }
      Start(parsed_kind);
      if(count!=ArraySize(values)+1)
        {
         error="1.0 queue line with "+IntegerToString(count-1)+" fields";
         return(false);
        }
      for(int i=0;i<ArraySize(values);i++)
        {
         present[i]=(StringGetCharacter(parts[i+1],0)=='=');
         values[i]=present[i] ? StringSubstr(parts[i+1],1) : "";
        }
      return(Complete());
     }

   //--- The last-write-wins key of a state ("" for signals).
   string            StateKey(void) const
     {
      if(kind==TS_KIND_INSTANCE)
         return("instance");
      if(kind==TS_KIND_TRADE)
         return("trade:"+Value("ticket"));
      if(kind==TS_KIND_POSITIONS)
         return("positions");
      return("");
     }

private:
   bool              Refuse(const string name,const string why)
     {
      if(error=="")
         error=TsKindName(kind)+": "+name+" "+why;
      return(false);
     }

   bool              Put(const string name,const int type,const string text)
     {
      int i=Field(name);
      if(i<0)
         return(Refuse(name,"is not a field of this kind"));
      if(g_ts_tables[kind].types[i]!=type)
         return(Refuse(name,"has another type"));
      values[i]=text;
      present[i]=true;
      return(true);
     }
  };

//+------------------------------------------------------------------+
//| The body of POST /v1/ingest for entries already in JSON          |
//+------------------------------------------------------------------+
string TsBatchJson(const string instance_id,const string &entries[],const int count)
  {
   string out="{\"instance_id\":"+TsJsonQuote(instance_id)+",\"updates\":[";
   for(int i=0;i<count;i++)
     {
      if(i>0)
         out+=",";
      out+=entries[i];
     }
   return(out+"]}");
  }

#endif // TRADESTATE_WIRE_MQH
//+------------------------------------------------------------------+
