//+------------------------------------------------------------------+
//|                                          Tradestate/Wire.mqh     |
//| The exact bytes sent to the Tradestate gateway: the field table  |
//| of each update kind, the number rule, a batch entry as JSON and  |
//| an update as a RESP command (HSET ris:{ID} / HSET rts:{ID}:<t> / |
//| XADD rtss:signals *).                                            |
//|                                                                  |
//| This file mirrors mt5-bridge/src/wire.rs. The Rust test          |
//| mt5-bridge/tests/mql5_source.rs parses the TS_*_FIELDS tables,   |
//| TS_NUMBER_MAX_DECIMALS and the number samples below and fails    |
//| when they differ from the Rust encoder. Keep the #define lines   |
//| on one line each.                                                |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_WIRE_MQH
#define TRADESTATE_WIRE_MQH

//--- Field tables, in encoding order: "name:type" or "name:type?" (optional).
//--- Types: int (decimal), num (TsNumber), text (quoted in JSON), bool (JSON true/false, RESP 1/0).
#define TS_INSTANCE_FIELDS "seq:int time_msc:int login:int server:text company:text? currency:text leverage:int balance:num credit:num equity:num profit:num margin:num margin_free:num margin_level:num connected:bool trade_allowed:bool ping_us:int build:int positions:int orders:int ea_version:text?"
#define TS_TRADE_FIELDS "seq:int ticket:text time_msc:int time_update_msc:int symbol:text type:text volume:num price_open:num price_current:num sl:num tp:num profit:num swap:num commission:num magic:int comment:text? state:text time_close_msc:int? price_close:num?"
#define TS_SIGNAL_FIELDS "seq:int signal_id:text time_msc:int strategy:text symbol:text action:text volume:num? price:num? sl:num? tp:num? magic:int? comment:text?"

//--- Numbers: fixed notation, the fewest decimals (0..TS_NUMBER_MAX_DECIMALS) that read back as
//--- the same double; zero as "0".
#define TS_NUMBER_MAX_DECIMALS 16
//--- The gateway's default policy.rtss_stream.
#define TS_SIGNAL_STREAM "rtss:signals"

//--- Update kinds.
#define TS_KIND_INSTANCE 0
#define TS_KIND_TRADE    1
#define TS_KIND_SIGNAL   2

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

TsTable g_ts_tables[3];
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
   g_ts_tables_ready=true;
  }

string TsKindName(const int kind)
  {
   if(kind==TS_KIND_INSTANCE)
      return("instance");
   if(kind==TS_KIND_TRADE)
      return("trade");
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
   return(-1);
  }

//+------------------------------------------------------------------+
//| A double as the wire writes it (mt5-bridge wire_number)          |
//+------------------------------------------------------------------+
string TsNumber(const double value)
  {
   if(value==0.0)
      return("0");
   if(!MathIsValidNumber(value))
      return("NaN"); // never valid: the gateway refuses it and names the field
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
//| JSON string body: backslash and quote escaped (controls cleaned) |
//+------------------------------------------------------------------+
string TsJsonQuote(const string text)
  {
   string out=text;
   StringReplace(out,"\\","\\\\");
   StringReplace(out,"\"","\\\"");
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
   ArrayResize(bytes,count);
   return(count);
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
      kind=record_kind;
      error="";
      int count=ArraySize(g_ts_tables[kind].names);
      ArrayResize(values,count);
      ArrayResize(present,count);
      for(int i=0;i<count;i++)
        {
         values[i]="";
         present[i]=false;
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

   bool              Int(const string name,const long value)    { return(Put(name,TS_INT,IntegerToString(value))); }
   bool              UInt(const string name,const ulong value)  { return(Put(name,TS_INT,TsULongToString(value))); }
   bool              Num(const string name,const double value)  { return(Put(name,TS_NUM,TsNumber(value))); }
   bool              Text(const string name,const string value) { return(Put(name,TS_TEXT,TsCleanText(value))); }
   bool              Bool(const string name,const bool value)   { return(Put(name,TS_BOOL,value ? "1" : "0")); }
   void              Clear(const string name)                   { int i=Field(name); if(i>=0) present[i]=false; }

   string            Value(const string name) const
     {
      int i=Field(name);
      return((i>=0 && present[i]) ? values[i] : "");
     }

   //--- Every required field is set (and no setter failed).
   bool              Complete(void)
     {
      if(kind<0)
        {
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

   //--- The batch entry: {"kind":"trade","seq":1,...}
   string            Json(void) const
     {
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

   //--- The RESP command for a terminal authenticated as instance_id.
   string            Resp(const string instance_id,const string stream) const
     {
      string args[];
      int count=ArraySize(values);
      ArrayResize(args,3+2*count);
      int n=0;
      if(kind==TS_KIND_INSTANCE)
        {
         args[n++]="HSET";
         args[n++]="ris:{"+instance_id+"}";
        }
      else
         if(kind==TS_KIND_TRADE)
           {
            args[n++]="HSET";
            args[n++]="rts:{"+instance_id+"}:"+Value("ticket");
           }
         else
           {
            args[n++]="XADD";
            args[n++]=stream;
            args[n++]="*";
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

   //--- Queue file line: kind, then per field "=" + value or the absent mark \x1E, separated by
   //--- \x1F (control characters never occur in values: TsCleanText).
   string            Line(void) const
     {
      string sep=ShortToString(0x1F);
      string out=TsKindName(kind);
      int count=ArraySize(values);
      for(int i=0;i<count;i++)
         out+=sep+(present[i] ? "="+values[i] : ShortToString(0x1E));
      return(out);
     }

   bool              FromLine(const string line)
     {
      string parts[];
      int count=StringSplit(line,(ushort)0x1F,parts);
      int parsed_kind=(count>0) ? TsKindFromName(parts[0]) : -1;
      if(parsed_kind<0)
         return(false);
      Start(parsed_kind);
      if(count!=ArraySize(values)+1)
         return(false);
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
      return("");
     }

private:
   bool              Put(const string name,const int type,const string text)
     {
      int i=Field(name);
      if(i<0)
        {
         error=TsKindName(kind)+": no field "+name;
         return(false);
        }
      if(g_ts_tables[kind].types[i]!=type)
        {
         error=TsKindName(kind)+": field "+name+" has another type";
         return(false);
        }
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
